# Reading run descriptions (sourced, not run). A run description is a ksi config file (README, "Config
# files": lines before any section apply to every subcommand, then one section per subcommand) with a
# few additions that only the job scripts read:
#
#   [slurm]                      # sbatch options for every stage
#   sbatch-partition = compute
#   [synth]
#   generator = mixture          # keys are ksi's long option names (ksi <stage> --help) ...
#   count = 20000
#   test-count = 5000            # ... plus the held-out set's size and seed (default: count, seed + 1)
#   sbatch-ntasks = 2            # ... and sbatch-<option>, passed to sbatch as --<option>=<value>
#   sbatch-time = 00:20:00
#
# so every size of a run is written once, in one file; inputs/quickstart.cfg works as it is. Values run to
# the end of the line (they may hold '=' and ','); '#' starts a comment only at the beginning of a line.
# Each stage gets RUN_DIR/<stage>.cfg: its ksi options only, in ksi's format.

KSI_STAGES=(synth fit sample stats)
# Sections ksi knows (drift and info are not pipeline stages but may be present) and [slurm].
KSI_SECTIONS=(slurm synth fit sample stats drift info)
# Keys the job scripts consume themselves (not ksi options of the stage).
KSI_RESERVED_KEYS=(generator test-count test-seed)

# ksi_cfg_entries FILE SECTION: the section's "key<TAB>value" lines, in file order; SECTION "" is the
# part before the first section.
ksi_cfg_entries() {
  awk -v want="$2" -v file="$1" '
    /^[[:space:]]*([#;].*)?$/ { next }
    /^[[:space:]]*\[/ {
      section = $0
      gsub(/^[[:space:]]*\[[[:space:]]*|[[:space:]]*\][[:space:]]*$/, "", section)
      next
    }
    {
      eq = index($0, "=")
      if (eq == 0) { printf "%s:%d: expected key = value: %s\n", file, NR, $0 > "/dev/stderr"; exit 2 }
      if (section != want) next
      key = substr($0, 1, eq - 1); value = substr($0, eq + 1)
      gsub(/^[[:space:]]+|[[:space:]]+$/, "", key); gsub(/^[[:space:]]+|[[:space:]]+$/, "", value)
      print key "\t" value
    }' "$1"
}

# ksi_cfg_stage_entries FILE SECTION: what a stage sees, as ksi reads it: the lines before any section,
# then the stage's own.
ksi_cfg_stage_entries() {
  ksi_cfg_entries "$1" "" && ksi_cfg_entries "$1" "$2"
}

# ksi_cfg_check FILE [SECTION...]: every section is one of those named (default: a pipeline's) and
# every line parses; one message otherwise.
ksi_cfg_check() {
  local file=$1 sections
  shift
  local allowed=("$@")
  [ ${#allowed[@]} -gt 0 ] || allowed=("${KSI_SECTIONS[@]}")
  [ -r "$file" ] || ksi_die "cannot read $file"
  sections=$(sed -n 's/^[[:space:]]*\[[[:space:]]*\([^]]*[^][:space:]]\)[[:space:]]*\][[:space:]]*$/\1/p' "$file")
  local s k known
  for s in $sections; do
    known=0
    for k in "${allowed[@]}"; do [ "$s" = "$k" ] && known=1; done
    [ $known -eq 1 ] || ksi_die "$file: unknown section [$s] (known: ${allowed[*]})"
  done
  ksi_cfg_entries "$file" none >/dev/null || ksi_die "$file is malformed"
}

# ksi_cfg_get FILE SECTION KEY [DEFAULT]: the value a stage sees (its section wins over the lines before
# any section; the last one given counts), or DEFAULT, or an error.
ksi_cfg_get() {
  local value
  if value=$(ksi_cfg_stage_entries "$1" "$2" |
             awk -F '\t' -v key="$3" '$1 == key { v = $2; found = 1 } END { if (found) print v; else exit 1 }'); then
    printf '%s\n' "$value"
  elif [ $# -ge 4 ]; then
    printf '%s\n' "$4"
  else
    ksi_die "$1: [$2] needs '$3 = ...'"
  fi
}

# ksi_cfg_write_stage FILE SECTION OUT: the stage's ksi options as a ksi --config file (no sections).
ksi_cfg_write_stage() {
  local file=$1 section=$2 out=$3 key value reserved r
  {
    echo "# ksi $section options, extracted from $file"
    while IFS=$'\t' read -r key value; do
      reserved=0
      for r in "${KSI_RESERVED_KEYS[@]}"; do [ "$key" = "$r" ] && reserved=1; done
      [[ $key == sbatch-* ]] && reserved=1
      [ $reserved -eq 1 ] || printf '%s = %s\n' "$key" "$value"
    done < <(ksi_cfg_stage_entries "$file" "$section")
  } >"$out"
}

# ksi_cfg_sbatch_options FILE SECTION: the sbatch options of a stage, one per line as --option=value:
# those before any section and in [slurm] first, then the stage's own (sbatch takes the last one).
ksi_cfg_sbatch_options() {
  local file=$1 section=$2 key value s
  for s in "" slurm "$section"; do
    while IFS=$'\t' read -r key value; do
      if [[ $key == sbatch-* ]]; then
        printf -- '--%s=%s\n' "${key#sbatch-}" "$value"
      elif [ "$s" = slurm ]; then
        ksi_die "$file: [slurm] holds only sbatch-<option> keys, not '$key'"
      fi
    done < <(ksi_cfg_entries "$file" "$s")
  done
}

# ksi_time_seconds TIME: a Slurm time limit (minutes, minutes:seconds, hours:minutes:seconds,
# days-hours, days-hours:minutes, days-hours:minutes:seconds) in seconds.
ksi_time_seconds() {
  local text=$1 days=0 rest h=0 m=0 sec=0
  if [[ $text == *-* ]]; then
    days=${text%%-*}
    rest=${text#*-}
    IFS=: read -r h m sec <<<"$rest"
  else
    local parts
    IFS=: read -ra parts <<<"$text"
    case ${#parts[@]} in
      1) m=${parts[0]} ;;
      2) m=${parts[0]} sec=${parts[1]} ;;
      3) h=${parts[0]} m=${parts[1]} sec=${parts[2]} ;;
      *) ksi_die "cannot read the time limit '$text'" ;;
    esac
  fi
  [[ "$days$h$m$sec" =~ ^[0-9]*$ ]] || ksi_die "cannot read the time limit '$text'"
  echo $(((10#${days:-0} * 24 + 10#${h:-0}) * 3600 + 10#${m:-0} * 60 + 10#${sec:-0}))
}

# ksi_normalize_sbatch_options ARRAY: rewrites the split forms --time T, -t T, -tT and --signal S in the
# named array as --time=T and --signal=S, the forms ksi_add_signal_option reads.
ksi_normalize_sbatch_options() {
  local -n normalize_words=$1
  local out=() i=0 word
  while [ $i -lt ${#normalize_words[@]} ]; do
    word=${normalize_words[$i]}
    case $word in
      --time|-t|--signal)
        [ $((i + 1)) -lt ${#normalize_words[@]} ] || ksi_die "sbatch option $word needs a value"
        if [ "$word" = --signal ]; then out+=("--signal=${normalize_words[$((i + 1))]}")
        else out+=("--time=${normalize_words[$((i + 1))]}"); fi
        i=$((i + 2))
        continue
        ;;
      -t?*) out+=("--time=${word#-t}") ;;
      *) out+=("$word") ;;
    esac
    i=$((i + 1))
  done
  normalize_words=("${out[@]}")
}

# ksi_add_signal_option: appends --signal=B:USR1@LEAD to the array named OPTIONS (of a stage that
# checkpoints) unless it has a --signal already: LEAD is a tenth of the stage's --time, between 30 s and
# 5 minutes, so the warning never comes before the job has started (Slurm sends it up to 60 s early).
ksi_add_signal_option() {
  local -n ksi_signal_opts=$1  # (a name no caller uses for its array)
  local ksi_signal_word limit=
  for ksi_signal_word in "${ksi_signal_opts[@]}"; do
    case $ksi_signal_word in
      --signal=*) return 0 ;;
      --time=*) limit=${ksi_signal_word#--time=} ;;
    esac
  done
  [ -n "$limit" ] || return 0  # the script's own #SBATCH --time and --signal hold
  local seconds lead
  seconds=$(ksi_time_seconds "$limit")
  lead=$((seconds / 10))
  ((lead < 30)) && lead=30
  ((lead > 300)) && lead=300
  ksi_signal_opts+=("--signal=B:USR1@$lead")
}

# Shared launcher of the ksi job scripts (sourced, not run).
#
#   ksi_run NTASKS ksi-arguments...   runs `ksi ksi-arguments...` on NTASKS MPI ranks and returns its
#                                     exit code; 75 means "stopped on a signal after a checkpoint".
#
# Launcher: inside a Slurm allocation `srun --mpi=<plugin>` when Slurm's MPI plugin starts this Open MPI
# as one job (pmix, else pmi2; checked once per job by a real launch of ksi, which stops with exit code 6
# when its MPI world size differs from SLURM_NTASKS), else `mpirun` (Open MPI takes the allocation from
# Slurm and starts its daemons with srun). Outside Slurm: mpirun, oversubscribed when the rank count
# exceeds the cores. KSI_LAUNCHER=srun|mpirun forces one; KSI_SRUN_MPI picks the plugin;
# KSI_MPIRUN_FLAGS / KSI_SRUN_FLAGS add flags.
#
# Threads: one BLAS/OpenMP thread per rank unless KSI_THREADS says otherwise (ranks are the parallelism).
#
# Signals: the batch shell traps USR1 and TERM (`#SBATCH --signal=B:USR1@N` sends USR1 to the batch
# shell only) and forwards USR1 to the running launcher, which passes it to every rank; ksi then writes
# its checkpoint and exits with 75. A signal that arrives between launches stops the next one from
# starting (ksi_run returns 75 at once).

KSI_ROOT=${KSI_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
export KSI_ROOT

ksi_log() { echo "[$(date +%H:%M:%S)] ksi-job: $*" >&2; }
ksi_die() {
  ksi_log "error: $*"
  exit 1
}

# The ksi executable: $KSI, else the build tree, else ksi on PATH.
ksi_find_binary() {
  if [ -n "${KSI:-}" ]; then
    [ -x "$KSI" ] || ksi_die "KSI=$KSI is not an executable"
  elif [ -x "$KSI_ROOT/build/ksi" ]; then
    KSI=$KSI_ROOT/build/ksi
  elif command -v ksi >/dev/null 2>&1; then
    KSI=$(command -v ksi)
  else
    ksi_die "no ksi executable: build it (jobs/build.sh), install it, or set KSI=/path/to/ksi"
  fi
  export KSI
}

KSI_THREADS=${KSI_THREADS:-1}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$KSI_THREADS}
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-$KSI_THREADS}
export KSI_BLAS_THREADS=${KSI_BLAS_THREADS:-$KSI_THREADS}

KSI_INTERRUPTED=75
KSI_CHILD_PID=
KSI_STOP_REQUESTED=0

ksi_forward_signal() {
  local signal=$1
  KSI_STOP_REQUESTED=1
  if [ -n "$KSI_CHILD_PID" ] && kill -0 "$KSI_CHILD_PID" 2>/dev/null; then
    ksi_log "received SIG$signal: asking ksi (launcher pid $KSI_CHILD_PID) to checkpoint and stop"
    # USR1 whatever arrived: srun and mpirun both pass USR1 to every rank, while their own reaction to
    # TERM is to end the step, which would not leave ksi the time to write its checkpoint.
    kill -USR1 "$KSI_CHILD_PID" 2>/dev/null || true
  else
    ksi_log "received SIG$signal between launches: no further ksi step will start"
  fi
}
trap 'ksi_forward_signal USR1' USR1
trap 'ksi_forward_signal TERM' TERM

# Cores of this machine (outside Slurm), for the oversubscription decision (nproc alone would
# honour the OMP_NUM_THREADS=1 set above).
ksi_local_cores() { env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc 2>/dev/null || echo 1; }

# Sets KSI_LAUNCHER (srun or mpirun) and KSI_SRUN_MPI once per job.
ksi_choose_launcher() {
  [ -n "${KSI_LAUNCHER:-}" ] && return 0
  if [ -z "${SLURM_JOB_ID:-}" ] || ! command -v srun >/dev/null 2>&1; then
    KSI_LAUNCHER=mpirun
    return 0
  fi
  if [ -z "${KSI_SRUN_MPI:-}" ]; then
    local plugins
    plugins=$(srun --mpi=list 2>&1 || true)
    for candidate in pmix pmi2; do
      if grep -qw "$candidate" <<<"$plugins"; then
        KSI_SRUN_MPI=$candidate
        break
      fi
    done
  fi
  if [ -z "${KSI_SRUN_MPI:-}" ]; then
    ksi_log "Slurm offers neither pmix nor pmi2: launching with mpirun"
    KSI_LAUNCHER=mpirun
    return 0
  fi
  # A real launch on every task of the allocation: ksi exits with 6 when srun started singletons.
  local ntasks=${SLURM_NTASKS:-1}
  if srun --mpi="$KSI_SRUN_MPI" --ntasks="$ntasks" ${KSI_SRUN_FLAGS:-} "$KSI" info --help \
      >/dev/null 2>&1; then
    KSI_LAUNCHER=srun
  else
    ksi_log "srun --mpi=$KSI_SRUN_MPI does not start ksi as one MPI job of $ntasks ranks: using mpirun"
    KSI_LAUNCHER=mpirun
  fi
  export KSI_LAUNCHER KSI_SRUN_MPI
}

# Prints the launch command for NTASKS ranks, one word per line.
ksi_launch_command() {
  local ntasks=$1
  if [ "$KSI_LAUNCHER" = srun ]; then
    printf '%s\n' srun --mpi="$KSI_SRUN_MPI" --ntasks="$ntasks" --kill-on-bad-exit=1
    # shellcheck disable=SC2086
    [ -n "${KSI_SRUN_FLAGS:-}" ] && printf '%s\n' ${KSI_SRUN_FLAGS}
  else
    printf '%s\n' mpirun -n "$ntasks" -x OMP_NUM_THREADS -x OPENBLAS_NUM_THREADS -x KSI_BLAS_THREADS
    if [ -z "${SLURM_JOB_ID:-}" ] && [ "$ntasks" -gt "$(ksi_local_cores)" ]; then
      printf '%s\n' --oversubscribe
    fi
    # shellcheck disable=SC2086
    [ -n "${KSI_MPIRUN_FLAGS:-}" ] && printf '%s\n' ${KSI_MPIRUN_FLAGS}
  fi
  return 0
}

# ksi_run NTASKS ksi-arguments...: the launch in the background and a wait that signals interrupt, so
# the traps above run while ksi works.
ksi_run() {
  local ntasks=$1
  shift
  if [ "$KSI_STOP_REQUESTED" -eq 1 ]; then
    ksi_log "not starting 'ksi $1': a stop was requested"
    return "$KSI_INTERRUPTED"
  fi
  [ -n "${KSI:-}" ] || ksi_find_binary
  ksi_choose_launcher
  local launch
  mapfile -t launch < <(ksi_launch_command "$ntasks")
  ksi_log "${launch[*]} $KSI $*"
  "${launch[@]}" "$KSI" "$@" &
  KSI_CHILD_PID=$!
  # (Written to work under set -e too.)
  local status=0 final=0
  while kill -0 "$KSI_CHILD_PID" 2>/dev/null; do
    # > 128 when a trapped signal interrupted the wait; the loop then waits again.
    wait "$KSI_CHILD_PID" && status=0 || status=$?
  done
  # The child's own status (bash keeps it after the loop's last wait); 127 if it was already taken.
  wait "$KSI_CHILD_PID" 2>/dev/null || final=$?
  if [ "$final" -ne 127 ]; then status=$final; fi
  KSI_CHILD_PID=
  if [ "$status" -eq "$KSI_INTERRUPTED" ]; then
    ksi_log "ksi $1 stopped after writing its checkpoint (exit $status): rerun with --resume"
  elif [ "$status" -ne 0 ]; then
    ksi_log "ksi $1 failed with exit code $status"
  fi
  return "$status"
}

# After an interruption (exit 75) inside a batch job: requeue this job when it was submitted with
# KSI_REQUEUE=1 (the stage scripts always pass --resume, so the requeued run continues), at most
# KSI_MAX_REQUEUES times; otherwise keep the exit code for an afterany follow-up job.
ksi_requeue_or_exit() {
  local status=$1
  if [ "$status" -eq "$KSI_INTERRUPTED" ] && [ "${KSI_REQUEUE:-0}" = 1 ] && [ -n "${SLURM_JOB_ID:-}" ]; then
    local restarts=${SLURM_RESTART_COUNT:-0}
    if [ "$restarts" -lt "${KSI_MAX_REQUEUES:-5}" ]; then
      ksi_log "requeueing job $SLURM_JOB_ID (restart $((restarts + 1)) of at most ${KSI_MAX_REQUEUES:-5})"
      scontrol requeue "$SLURM_JOB_ID" && exit 0
      ksi_log "scontrol requeue failed"
    else
      ksi_log "not requeueing: $restarts restarts already (KSI_MAX_REQUEUES)"
    fi
  fi
  exit "$status"
}

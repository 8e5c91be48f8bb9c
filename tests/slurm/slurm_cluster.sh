# A real one-node Slurm cluster in a temporary folder, for tests (sourced, not run).
#
#   slurm_install_packages     installs slurm-wlm, slurmdbd, munge and mariadb-server from Debian when
#                              any is missing (as root; daemons are not started by the packages)
#   slurm_cluster_start DIR    configures and starts munged, mariadbd, slurmdbd, slurmctld and slurmd
#                              with every file (keys, sockets, pids, logs, spool, state, database)
#                              under DIR, exports SLURM_CONF, and waits until the node is idle
#   slurm_cluster_stop         cancels the cluster's jobs and stops the daemons it started, by their
#                              process ids (TERM, then KILL after a grace period); safe to call twice
#   slurm_cluster_logs         prints the tails of the daemons' logs
#   slurm_wait_jobs SECONDS ID...   waits until the jobs have left the queue; false on timeout
#   slurm_job_state ID         the job's state as sacct reports it (COMPLETED, FAILED, TIMEOUT, ...)
#
# Accounting: Debian's Slurm (22.05) answers sacct only from slurmdbd, which needs MySQL/MariaDB; the
# database server runs without networking on a socket inside DIR (slurmdbd finds it through
# MYSQL_UNIX_PORT). Ports of slurmctld, slurmd and slurmdbd are chosen free at start.

SLURM_CLUSTER_PIDS=()   # "name:pid" of every daemon started here, in start order
SLURM_CLUSTER_DIR=

slurm_log() { echo "[$(date +%H:%M:%S)] slurm-cluster: $*" >&2; }

slurm_install_packages() {
  local -A wanted=([slurmctld]=slurm-wlm [slurmd]=slurm-wlm [sbatch]=slurm-wlm [slurmdbd]=slurmdbd
                   [munged]=munge [mungekey]=munge [mariadbd]=mariadb-server
                   [mariadb-install-db]=mariadb-server)
  local -A missing=()
  local tool
  for tool in "${!wanted[@]}"; do
    command -v "$tool" >/dev/null 2>&1 || [ -x "/usr/sbin/$tool" ] || missing[${wanted[$tool]}]=1
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  [ "$(id -u)" -eq 0 ] || { slurm_log "need root to install ${!missing[*]}"; return 1; }
  slurm_log "installing ${!missing[*]} from Debian"
  # Debian's maintainer scripts would start the daemons system-wide; forbid that while installing
  # unless the machine already has a policy.
  local policy=/usr/sbin/policy-rc.d own_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && own_policy=1
  fi
  local status=0
  DEBIAN_FRONTEND=noninteractive apt-get update -q >&2 &&
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      "${!missing[@]}" >&2 || status=$?
  [ $own_policy -eq 1 ] && rm -f "$policy"
  return $status
}

# Ports nobody listens on now (the kernel's choice; closed again before the daemons bind them).
slurm_free_ports() {
  /usr/bin/python3 - "$1" <<'PY'
import socket, sys
sockets = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in sockets:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in sockets))
PY
}

# slurm_wait_for SECONDS DESCRIPTION COMMAND...: retries COMMAND every half second.
slurm_wait_for() {
  local seconds=$1 what=$2
  shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    if [ $SECONDS -ge $deadline ]; then
      slurm_log "timed out after ${seconds}s waiting for $what"
      return 1
    fi
    sleep 0.5
  done
}

# slurm_spawn NAME LOGFILE COMMAND...: starts a daemon in the foreground mode, in the background.
slurm_spawn() {
  local name=$1 log=$2
  shift 2
  "$@" >"$log" 2>&1 &
  SLURM_CLUSTER_PIDS+=("$name:$!")
  slurm_log "started $name (pid $!)"
}

slurm_alive() {
  local entry
  for entry in "${SLURM_CLUSTER_PIDS[@]}"; do
    if [ "${entry%%:*}" = "$1" ]; then
      kill -0 "${entry#*:}" 2>/dev/null
      return
    fi
  done
  return 1
}

slurm_cluster_start() {
  local dir=$1
  SLURM_CLUSTER_DIR=$dir
  mkdir -p "$dir"/{etc,log,run,state,spool,tmp,munge,db}
  # munged insists that every folder above its socket is searchable by all, and the database's
  # folder private.
  chmod 755 "$dir" "$dir/munge"
  chmod 700 "$dir/db"
  local host cpus_line ports ctld_port slurmd_port dbd_port
  host=$(hostname -s)
  read -r ctld_port slurmd_port dbd_port < <(slurm_free_ports 3)
  # The node as slurmd sees it (CPUs, sockets, cores, threads), with little memory claimed.
  cpus_line=$(slurmd -C | head -1 | tr ' ' '\n' |
              grep -E '^(CPUs|Boards|SocketsPerBoard|CoresPerSocket|ThreadsPerCore)=' | tr '\n' ' ')
  [ -n "$cpus_line" ] || { slurm_log "slurmd -C did not describe this node"; return 1; }

  # munge: a fresh key, the socket inside dir.
  local socket=$dir/munge/munge.socket
  mungekey --create --keyfile="$dir/munge/munge.key" >/dev/null 2>&1 || return 1
  chmod 400 "$dir/munge/munge.key"
  slurm_spawn munged "$dir/log/munged.out" munged --foreground --socket="$socket" \
    --key-file="$dir/munge/munge.key" --log-file="$dir/log/munged.log" \
    --pid-file="$dir/run/munged.pid" --seed-file="$dir/munge/munged.seed"
  slurm_wait_for 20 munged bash -c "munge -n -S '$socket' | unmunge -S '$socket'" || return 1

  # MariaDB for slurmdbd: no networking, root without password, data inside dir.
  mariadb-install-db --no-defaults --datadir="$dir/db/data" --user=root \
    --auth-root-authentication-method=normal --skip-test-db >"$dir/log/mariadb-install.log" 2>&1 ||
    { slurm_log "mariadb-install-db failed"; cat "$dir/log/mariadb-install.log" >&2; return 1; }
  export MYSQL_UNIX_PORT=$dir/db/mysqld.sock
  slurm_spawn mariadbd "$dir/log/mariadbd.out" mariadbd --no-defaults --datadir="$dir/db/data" \
    --socket="$MYSQL_UNIX_PORT" --skip-networking --pid-file="$dir/run/mariadbd.pid" \
    --log-error="$dir/log/mariadbd.log" --user=root --innodb-buffer-pool-size=128M \
    --innodb-lock-wait-timeout=900
  slurm_wait_for 60 mariadbd mariadb-admin --no-defaults --socket="$MYSQL_UNIX_PORT" ping || return 1

  cat >"$dir/etc/slurmdbd.conf" <<EOF
AuthType=auth/munge
AuthInfo=socket=$socket
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=$dbd_port
SlurmUser=root
PidFile=$dir/run/slurmdbd.pid
LogFile=$dir/log/slurmdbd.log
DebugLevel=info
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=root
StorageLoc=ksi_slurm_acct
EOF
  chmod 600 "$dir/etc/slurmdbd.conf"

  cat >"$dir/etc/slurm.conf" <<EOF
# A one-node test cluster (tests/slurm/slurm_cluster.sh); everything lives under $dir.
ClusterName=ksitest
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$socket
CredType=cred/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/run/slurmctld.pid
SlurmdPidFile=$dir/run/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
TmpFS=$dir/tmp
# No cgroups (containers, CI): processes tracked by parentage, no task binding.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/linux
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
MpiDefault=none
ReturnToService=2
KillWait=30
MinJobAge=300
MailProg=/bin/true
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=$dbd_port
# With slurmdbd this names the munge socket of the controller's connection to it.
AccountingStoragePass=$socket
JobCompType=jobcomp/none
NodeName=$host NodeAddr=127.0.0.1 ${cpus_line}RealMemory=1000 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
  export SLURM_CONF=$dir/etc/slurm.conf

  slurm_spawn slurmdbd "$dir/log/slurmdbd.out" slurmdbd -D
  slurm_wait_for 60 slurmdbd grep -q "slurmdbd version .* started" "$dir/log/slurmdbd.log" || return 1
  slurm_spawn slurmctld "$dir/log/slurmctld.out" slurmctld -D -i
  slurm_wait_for 60 slurmctld bash -c 'scontrol ping | grep -q UP' || return 1
  slurm_spawn slurmd "$dir/log/slurmd.out" slurmd -D
  slurm_wait_for 60 "the node to become idle" \
    bash -c "sinfo -h -N -o %T | grep -qx idle" || return 1
  # The cluster is known to the database once slurmctld registered with slurmdbd.
  slurm_wait_for 60 "the cluster in the accounting database" \
    bash -c "sacctmgr -n -P show cluster format=cluster | grep -qx ksitest" || return 1
  slurm_log "cluster up: $host, ${cpus_line}ports $ctld_port/$slurmd_port/$dbd_port, in $dir"
}

slurm_cluster_logs() {
  local f
  for f in "$SLURM_CLUSTER_DIR"/log/*; do
    [ -s "$f" ] || continue
    echo "----- $f (last 25 lines)"
    tail -n 25 "$f"
  done
}

slurm_cluster_stop() {
  [ ${#SLURM_CLUSTER_PIDS[@]} -eq 0 ] && return 0
  # Jobs first, while slurmctld can still end them (their processes descend from slurmstepd, not
  # from the daemons started here).
  if slurm_alive slurmctld; then
    scancel --user="$(id -un)" >/dev/null 2>&1 || true
    slurm_wait_for 60 "jobs to end" bash -c '[ -z "$(squeue -h -o %i)" ]' || true
  fi
  local i entry name pid
  for ((i = ${#SLURM_CLUSTER_PIDS[@]} - 1; i >= 0; i--)); do
    entry=${SLURM_CLUSTER_PIDS[$i]}
    name=${entry%%:*} pid=${entry#*:}
    kill -0 "$pid" 2>/dev/null || continue
    kill -TERM "$pid" 2>/dev/null
    local deadline=$((SECONDS + 20))
    while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.2; done
    if kill -0 "$pid" 2>/dev/null; then
      slurm_log "$name (pid $pid) ignored TERM: killing it"
      kill -KILL "$pid" 2>/dev/null
    fi
    wait "$pid" 2>/dev/null
    slurm_log "stopped $name (pid $pid)"
  done
  SLURM_CLUSTER_PIDS=()
}

slurm_wait_jobs() {
  local seconds=$1
  shift
  local ids
  ids=$(IFS=,; echo "$*")
  slurm_wait_for "$seconds" "jobs $ids to finish" bash -c "[ -z \"\$(squeue -h -j $ids -o %i 2>/dev/null)\" ]"
}

# slurm_release_requeued SECONDS JOB: Slurm holds a requeued batch job back for about two minutes
# (its begin time is set past the requeue). Once JOB is pending again after a restart and the node
# has finished with its previous run (idle in two polls one second apart: a job started while the
# old batch script is still exiting fails to launch), set its begin time to now, as an administrator
# may, so the test does not sit out the delay. Returns 1 when JOB neither restarted nor finished
# within SECONDS.
slurm_release_requeued() {
  local seconds=$1 job=$2 deadline=$((SECONDS + $1)) info idle=0
  while [ $SECONDS -lt $deadline ]; do
    info=$(scontrol -o show job "$job" 2>/dev/null) || return 0  # gone: finished
    case $info in
      *JobState=PENDING*Restarts=[1-9]*)
        if [ "$(sinfo -h -o %T | sort -u)" = idle ]; then
          idle=$((idle + 1))
          [ $idle -ge 2 ] && { scontrol update JobId="$job" StartTime=now; return 0; }
        else
          idle=0
        fi ;;
      *JobState=COMPLETED* | *JobState=FAILED* | *JobState=CANCELLED* | *JobState=TIMEOUT*) return 0 ;;
    esac
    sleep 1
  done
  return 1
}

# slurm_release_requeues SECONDS JOB: slurm_release_requeued for every restart of JOB (a fit cut off
# by its time limit again after a requeue is held back again), until JOB finishes. Returns 1 when it
# has not finished within SECONDS or was never requeued.
slurm_release_requeues() {
  local deadline=$((SECONDS + $1)) job=$2 info restarts released=0
  while [ $SECONDS -lt $deadline ]; do
    info=$(scontrol -o show job "$job" 2>/dev/null) || break  # gone: finished
    case $info in
      *JobState=COMPLETED* | *JobState=FAILED* | *JobState=CANCELLED* | *JobState=TIMEOUT*) break ;;
    esac
    restarts=$(sed -n 's/.*Restarts=\([0-9]*\).*/\1/p' <<<"$info")
    if [ "${restarts:-0}" -gt "$released" ]; then
      slurm_release_requeued $((deadline - SECONDS)) "$job" || return 1
      released=$restarts
    fi
    sleep 1
  done
  [ $released -gt 0 ] && [ $SECONDS -lt $deadline ]
}

slurm_job_state() {
  # The job's own record (not its steps); accounting may lag the end of a job by a moment.
  local state deadline=$((SECONDS + 30))
  while :; do
    state=$(sacct -n -X -P -j "$1" -o State 2>/dev/null | head -1 | awk '{print $1}')
    case $state in
      ""|PENDING|RUNNING|REQUEUED|COMPLETING) ;;
      *) echo "$state"; return 0 ;;
    esac
    [ $SECONDS -ge $deadline ] && { echo "${state:-UNKNOWN}"; return 0; }
    sleep 1
  done
}

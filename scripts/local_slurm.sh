#!/usr/bin/env bash
# A real single-node SLURM cluster on this machine, with job accounting, for trying and testing
# `python train.py -m hydra/launcher=submitit_slurm_cpu ...` (tests/sweeper/test_slurm.py).
#
#   sudo bash scripts/local_slurm.sh          # start (idempotent: run it again at any time)
#   sudo bash scripts/local_slurm.sh status   # the daemons and the node
#   sudo bash scripts/local_slurm.sh stop     # stop every daemon this script starts
#
# Needs root and Debian/Ubuntu's `apt-get install -y slurm-wlm munge`; installs `slurmdbd` and
# `mariadb-server` itself when they are missing. No systemd: the daemons are started directly,
# so it works in CI containers. What it runs:
#   munged      the authentication every SLURM daemon and command uses
#   mariadbd    local socket only (skip-networking); the accounting database
#   slurmdbd    accounting: `sacct` answers from it. submitit polls `sacct` for job states;
#               without accounting `sacct` fails and submitit warns on every poll and cannot see
#               a job that died without a result (it would wait for it forever).
#   slurmctld   the controller; slurmd the one compute node, named `hostname -s`, in partition `cpu`
# Logs: /var/log/slurm/{slurmctld,slurmd,slurmdbd}.log, /var/log/slurm/mariadb.log.
set -euo pipefail

CLUSTER=initlab
NODE=$(hostname -s)
CONF_DIR=/etc/slurm
RUN_DIR=/run/slurm
LOG_DIR=/var/log/slurm
STATE_DIR=/var/lib/slurm/slurmctld
SPOOL_DIR=/var/lib/slurm/slurmd
MYSQL_SOCK=/run/mysqld/mysqld.sock
# A requeued job may start again only after the job credential's lifetime (AuthInfo
# cred_expire, default 120 s: slurmctld sets its BeginTime to now + cred_expire + 1). 10 s is
# plenty on one machine, where a step starts within a second of its credential being made.
CRED_EXPIRE=10

log() { echo "local_slurm: $*" >&2; }
die() { log "error: $*"; exit 1; }

# Running = its pid file names a live process of that name. A killed daemon can linger as a
# zombie (same pid, same name) until PID 1 reaps it, which in a container may take a while.
running() {  # name pidfile
  local pid
  [[ -r $2 ]] && pid=$(cat "$2" 2>/dev/null) && [[ -n $pid ]] &&
    [[ $(cat "/proc/$pid/comm" 2>/dev/null) == "$1" ]] &&
    [[ $(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) != Z ]]
}

wait_for() {  # seconds description command...
  local n=$1 what=$2
  shift 2
  for ((i = 0; i < n * 5; i++)); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  die "$what did not come up in ${n}s (logs: $LOG_DIR)"
}

stop_pid() {  # name pidfile
  running "$1" "$2" || return 0
  local pid
  pid=$(cat "$2")
  kill "$pid"
  for ((i = 0; i < 150; i++)); do
    kill -0 "$pid" 2>/dev/null || { log "stopped $1 ($pid)"; rm -f "$2"; return 0; }
    sleep 0.2
  done
  die "$1 ($pid) did not stop in 30 s"
}

install_packages() {
  local missing=()
  command -v slurmctld >/dev/null || missing+=(slurm-wlm)
  command -v munged >/dev/null || missing+=(munge)
  command -v slurmdbd >/dev/null || missing+=(slurmdbd)
  command -v mariadbd >/dev/null || missing+=(mariadb-server)
  ((${#missing[@]})) || return 0
  log "installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

write_if_changed() {  # path mode owner  (content on stdin); returns 0 if the file changed
  local tmp
  tmp=$(mktemp)
  cat >"$tmp"
  if [[ -f $1 ]] && cmp -s "$tmp" "$1"; then
    rm -f "$tmp"
    return 1
  fi
  install -m "$2" -o "$3" -g "$3" "$tmp" "$1"
  rm -f "$tmp"
  log "wrote $1"
}

slurm_conf() {
  local cpus mem_mb headroom
  cpus=$(nproc)
  mem_mb=$(($(awk '/^MemTotal:/ {print $2}' /proc/meminfo) / 1024))
  headroom=$((mem_mb / 10 > 1024 ? mem_mb / 10 : 1024))  # 10%, at least 1 GiB for the system
  ((mem_mb - headroom >= 512)) || headroom=$((mem_mb / 2))
  mem_mb=$((mem_mb - headroom))
  cat <<EOF
# Written by scripts/local_slurm.sh: one node, for trying and testing initlab's SLURM launcher.
ClusterName=$CLUSTER
SlurmctldHost=$NODE(127.0.0.1)
SlurmUser=slurm
AuthType=auth/munge
CredType=cred/munge
AuthInfo=cred_expire=$CRED_EXPIRE
MpiDefault=none
MailProg=/bin/true
StateSaveLocation=$STATE_DIR
SlurmdSpoolDir=$SPOOL_DIR
SlurmctldPidFile=$RUN_DIR/slurmctld.pid
SlurmdPidFile=$RUN_DIR/slurmd.pid
SlurmctldLogFile=$LOG_DIR/slurmctld.log
SlurmdLogFile=$LOG_DIR/slurmd.log
# No cgroups (containers rarely allow them): processes tracked by parent pid, no binding.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=30
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
JobCompType=jobcomp/none
# CPUs and memory are consumable: several 1-CPU jobs run side by side.
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=5
# A test box: quick kills and restarts, a node that comes back by itself after a restart.
KillWait=5
ReturnToService=2
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
MinJobAge=300
Waittime=0
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=cpu Nodes=$NODE Default=YES MaxTime=INFINITE DefMemPerCPU=$((mem_mb / cpus)) State=UP
EOF
}

slurmdbd_conf() {
  cat <<EOF
# Written by scripts/local_slurm.sh: accounting in the local MariaDB, through its socket.
AuthType=auth/munge
DbdHost=localhost
SlurmUser=slurm
PidFile=$RUN_DIR/slurmdbd.pid
LogFile=$LOG_DIR/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StorageLoc=slurm_acct_db
EOF
}

start_munge() {
  if [[ ! -s /etc/munge/munge.key ]]; then
    install -d -m 0700 -o munge -g munge /etc/munge
    if command -v mungekey >/dev/null; then
      mungekey --create --keyfile=/etc/munge/munge.key
    else
      dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
    fi
    chown munge:munge /etc/munge/munge.key
    chmod 0400 /etc/munge/munge.key
    log "created /etc/munge/munge.key"
  fi
  install -d -m 0755 -o munge -g munge /run/munge /var/log/munge /var/lib/munge
  if ! running munged /run/munge/munged.pid; then
    runuser -u munge -- /usr/sbin/munged
    log "started munged"
  fi
  wait_for 10 munged bash -c 'munge -n | unmunge'
}

mariadb_up() { mariadb-admin --socket="$MYSQL_SOCK" ping; }

start_mariadb() {
  install -d -m 0755 -o mysql -g mysql /run/mysqld
  if [[ ! -d /var/lib/mysql/mysql ]]; then
    mariadb-install-db --user=mysql --datadir=/var/lib/mysql >>"$LOG_DIR/mariadb.log" 2>&1 ||
      die "mariadb-install-db failed (see $LOG_DIR/mariadb.log)"
    log "created the MariaDB data directory"
  fi
  if ! mariadb_up >/dev/null 2>&1; then
    touch "$LOG_DIR/mariadb.log"
    chown mysql:mysql "$LOG_DIR/mariadb.log"
    # slurmdbd's recommended InnoDB settings; no TCP: only local clients, through the socket.
    setsid -f /usr/sbin/mariadbd --user=mysql --skip-networking --socket="$MYSQL_SOCK" \
      --log-error="$LOG_DIR/mariadb.log" --innodb-lock-wait-timeout=900 \
      --innodb-buffer-pool-size=512M --innodb-log-file-size=64M </dev/null >/dev/null 2>&1
    log "started mariadbd"
  fi
  wait_for 60 mariadbd mariadb_up
  # The database user `slurm` logs in as the system user slurm (unix_socket): no password.
  mariadb --socket="$MYSQL_SOCK" -uroot <<'EOF'
CREATE DATABASE IF NOT EXISTS slurm_acct_db;
CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED VIA unix_socket;
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';
EOF
}

start_slurmdbd() {
  running slurmdbd "$RUN_DIR/slurmdbd.pid" || { slurmdbd && log "started slurmdbd"; }
  wait_for 60 slurmdbd sacctmgr -n list cluster
  if [[ -z $(sacctmgr -n -P list cluster "$CLUSTER" format=cluster) ]]; then
    sacctmgr -i add cluster "$CLUSTER" >/dev/null
    log "added cluster $CLUSTER to the accounting database"
  fi
}

node_state() { sinfo -h -n "$NODE" -o %T 2>/dev/null; }

start() {
  ((EUID == 0)) || die "run as root: sudo bash $0"
  install_packages
  install -d -m 0755 -o slurm -g slurm "$RUN_DIR" "$LOG_DIR" "$STATE_DIR" "$SPOOL_DIR"
  install -d -m 0755 "$CONF_DIR"
  local changed=0 conf
  for conf in "$CONF_DIR/slurm.conf" "$CONF_DIR/slurmdbd.conf"; do  # never take over a real setup
    if [[ -f $conf ]] && ! grep -q "Written by scripts/local_slurm.sh" "$conf"; then
      die "$conf exists and was not written by this script: it starts a test cluster only on a machine without SLURM of its own"
    fi
  done
  slurm_conf | write_if_changed "$CONF_DIR/slurm.conf" 0644 root && changed=1
  slurmdbd_conf | write_if_changed "$CONF_DIR/slurmdbd.conf" 0600 slurm || true
  if ((changed)); then  # the node, select and auth settings need restarted daemons
    stop_pid slurmd "$RUN_DIR/slurmd.pid"
    stop_pid slurmctld "$RUN_DIR/slurmctld.pid"
  fi

  start_munge
  start_mariadb
  start_slurmdbd
  running slurmctld "$RUN_DIR/slurmctld.pid" || { slurmctld && log "started slurmctld"; }
  wait_for 30 slurmctld scontrol ping
  running slurmd "$RUN_DIR/slurmd.pid" || { slurmd && log "started slurmd"; }

  # Wait for the node to register; a node left down or drained by an earlier run is resumed.
  local state
  for ((i = 0; i < 150; i++)); do
    state=$(node_state)
    case $state in
      idle | mixed | allocated) break ;;
      down* | drain* | fail*)
        log "node $NODE is $state: resuming it"
        # may race ReturnToService bringing it back ("Invalid node state"): then just wait
        scontrol update nodename="$NODE" state=resume 2>/dev/null || true
        sleep 1
        ;;
    esac
    sleep 0.2
  done
  case $state in
    idle | mixed | allocated) ;;
    *) die "node $NODE is '${state:-unknown}' after 30 s: $(scontrol show node "$NODE" | grep -i reason)" ;;
  esac
  sinfo -h -p cpu
}

status() {
  local name pidfile
  for name in munged slurmdbd slurmctld slurmd; do
    case $name in munged) pidfile=/run/munge/munged.pid ;; *) pidfile=$RUN_DIR/$name.pid ;; esac
    if running "$name" "$pidfile"; then echo "$name: running ($(cat "$pidfile"))"; else echo "$name: stopped"; fi
  done
  if mariadb_up >/dev/null 2>&1; then echo "mariadbd: running"; else echo "mariadbd: stopped"; fi
  sinfo 2>&1 || true
}

stop() {
  ((EUID == 0)) || die "run as root: sudo bash $0 stop"
  stop_pid slurmd "$RUN_DIR/slurmd.pid"
  stop_pid slurmctld "$RUN_DIR/slurmctld.pid"
  stop_pid slurmdbd "$RUN_DIR/slurmdbd.pid"
  if mariadb_up >/dev/null 2>&1; then
    mariadb-admin --socket="$MYSQL_SOCK" -uroot shutdown && log "stopped mariadbd"
  fi
  stop_pid munged /run/munge/munged.pid
}

case ${1:-start} in
  start) start ;;
  stop) stop ;;
  restart) stop && start ;;
  status) status ;;
  *) die "usage: $0 [start|stop|restart|status]" ;;
esac

#!/bin/bash
# perfstat.sh PATH: perf stat (counting only: CPU time, context switches,
# system calls by kind) of each process of one path of `spacenet bench ipc
# --processes` -- the switch, the server, the caller -- while the caller
# makes 1000+N sequential calls; prints each figure per call.
# PATH: ipc, raw, grpc or grpc-mtls. Needs perf, openssl and the built CLI
# (make build; B names another binary). Run from the repository root:
#   ./ipc/ipcbench/perfstat.sh ipc
set -e
B=$(realpath ${B:-bin/spacenet})
P=$1
D=$(mktemp -d)
N=${N:-20000}
EV=task-clock,context-switches,cpu-migrations,raw_syscalls:sys_enter,syscalls:sys_enter_read,syscalls:sys_enter_write,syscalls:sys_enter_epoll_pwait,syscalls:sys_enter_futex,syscalls:sys_enter_nanosleep,syscalls:sys_enter_sched_yield,syscalls:sys_enter_recvmsg,syscalls:sys_enter_sendmsg
cat > $D/pol.toml <<'T'
[[tenant]]
name = "camera"
owns = ["0x010-0x01F"]
can_send_to = ["processor"]
[[tenant]]
name = "processor"
owns = ["0x020-0x02F"]
can_send_to = ["camera"]
[[tenant]]
name = "ping"
owns = ["0x300-0x30F"]
can_send_to = ["pong"]
[[tenant]]
name = "pong"
owns = ["0x310-0x31F"]
can_send_to = ["ping"]
T
SWP=
case $P in
ipc|raw)
  perf stat -x, -e $EV -o $D/switch.txt $B run --socket-dir $D/s --config $D/pol.toml 2>$D/switch.log >/dev/null &
  SWP=$!
  until grep -q 'tenant=pong' $D/switch.log 2>/dev/null; do sleep 0.1; done
  SERVER=camera; [ $P = raw ] && SERVER=pong
  SDIR=$D/s;;
grpc|grpc-mtls)
  cd $D
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca-key.pem -out ca.pem -days 1 -subj /CN=ca 2>/dev/null
  for n in server client; do
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout $n-key.pem -out $n.csr -subj /CN=$n 2>/dev/null
    printf 'subjectAltName=DNS:spacenet-bench-server\nextendedKeyUsage=%sAuth\n' $n > $n.ext
    openssl x509 -req -in $n.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -out $n.pem -days 1 -extfile $n.ext 2>/dev/null
  done
  cd - >/dev/null
  SERVER=grpc-server; SDIR=$D;;
esac
mkfifo $D/in
perf stat -x, -e $EV -o $D/server.txt $B bench ipc-peer $SERVER $SDIR < $D/in > $D/server.out &
SRV=$!
exec 3>$D/in
until grep -q ready $D/server.out 2>/dev/null; do sleep 0.1; done
(echo "seq 1000"; echo "seq $N") | perf stat -x, -e $EV -o $D/caller.txt $B bench ipc-peer caller $P $SDIR
exec 3>&-
wait $SRV
if [ -n "$SWP" ]; then
  kill -TERM $(pgrep -P $SWP) # the switch, child of its perf
  wait $SWP
fi
calls=$((N+1000))
for f in switch server caller; do
  [ -s $D/$f.txt ] || continue
  echo "== $P $f (per call, $calls calls)"
  awk -F, -v n=$calls '/^[0-9]/ {v=$1/n; u=""; if ($3=="task-clock") {v=v*1000; u=" us CPU"}; printf "  %-36s %8.2f%s\n", $3, v, u}' $D/$f.txt
done
rm -rf $D

#!/usr/bin/python3
# The listener of the fleet's light hosts (tests/fleet/fleet.sh, hosts 7 and up): one process
# listens on every light host's own address and, for each connection, starts that host's own
# sshd in inetd mode (`sshd -i`: its own sshd_config, its own host keys, chrooted into its own
# root, in a UTS namespace with its name and a mount namespace with /proc). An idle light host
# costs no process at all; a connection costs what a classic sshd costs anyway (a classic sshd
# forks and re-executes itself for every connection too).
#
#   light-sshd.py TABLE PIDFILE
# TABLE: one line per host, "NAME ADDRESS PORT ROOT LOG"; a host whose line is missing (or
# whose directory holds a file `down`) does not listen. SIGHUP: read TABLE again (fleet.sh
# start-host / stop-host); SIGTERM: stop listening and end.
import os, selectors, signal, socket, sys

table_path, pid_path = sys.argv[1], sys.argv[2]
sel = selectors.DefaultSelector()
listening = {}   # (addr, port) -> (socket, name, root, log)
reload = True


def on_hup(*_):
    global reload
    reload = True


def on_term(*_):
    for s, *_ in listening.values():
        s.close()
    try:
        os.unlink(pid_path)
    except OSError:
        pass
    os._exit(0)


def read_table():
    want = {}
    try:
        lines = open(table_path).read().splitlines()
    except OSError:
        lines = []
    for line in lines:
        parts = line.split(" ")
        if len(parts) != 5:
            continue
        name, addr, port, root, log = parts
        if os.path.exists(os.path.join(os.path.dirname(root), "down")):
            continue
        want[(addr, int(port))] = (name, root, log)
    return want


def apply_table():
    want = read_table()
    for key in list(listening):
        if key not in want or listening[key][1:] != want[key]:
            s = listening.pop(key)[0]
            sel.unregister(s)
            s.close()
    for key, (name, root, log) in want.items():
        if key in listening:
            continue
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(key)
        except OSError as e:
            print(f"light-sshd: {name}: cannot listen on {key[0]}:{key[1]}: {e}", file=sys.stderr, flush=True)
            s.close()
            continue
        s.listen(512)
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ, key)
        listening[key] = (s, name, root, log)


def serve(conn, name, root, log):
    # The host's session: its name, its /proc, its root, its sshd.
    script = ('hostname "$1"; mount -t proc proc "$2/proc" 2>/dev/null; '
              'exec chroot "$2" /usr/sbin/sshd -i -e -f /etc/ssh/sshd_config')
    fd = conn.fileno()
    logfd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.posix_spawn("/usr/bin/unshare",
                       ["unshare", "--uts", "--mount", "--propagation", "private", "--",
                        "/bin/sh", "-c", script, "sh", name, root],
                       os.environ,
                       file_actions=[(os.POSIX_SPAWN_DUP2, fd, 0), (os.POSIX_SPAWN_DUP2, fd, 1),
                                     (os.POSIX_SPAWN_DUP2, logfd, 2)],
                       setsid=True)
    finally:
        os.close(logfd)
        conn.close()


signal.signal(signal.SIGHUP, on_hup)
signal.signal(signal.SIGTERM, on_term)
signal.signal(signal.SIGCHLD, signal.SIG_IGN)   # sessions are reaped by the kernel
with open(pid_path + ".new", "w") as f:
    f.write(f"{os.getpid()}\n")
os.replace(pid_path + ".new", pid_path)
while True:
    if reload:
        reload = False
        apply_table()
        with open(pid_path + ".ready", "w") as f:
            f.write(f"{len(listening)}\n")
    for k, _ in sel.select(timeout=1.0):
        key = k.data
        entry = listening.get(key)
        if entry is None:
            continue
        s, name, root, log = entry
        while True:
            try:
                conn, _ = s.accept()
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                break
            conn.setblocking(True)
            serve(conn, name, root, log)

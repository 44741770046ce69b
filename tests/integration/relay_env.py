"""The world outside for the relay tests: a dnsmasq serving test zones on a
loopback port, and scripted SMTP servers ("peers") on 127.0.0.x addresses
that answer as told, record what they received, and misbehave on demand.

Everything is loopback; nothing asks the machine's resolver.
"""
import pathlib
import signal
import socket
import ssl
import subprocess
import threading
import time

from conftest import wait_until


def free_port_on(ips):
    """A TCP port free on every address in ips (peers share [relay] port)."""
    for _ in range(200):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        ok = True
        for ip in ips:
            fam = socket.AF_INET6 if ":" in ip else socket.AF_INET
            try:
                with socket.socket(fam) as t:
                    t.bind((ip, port))
            except OSError:
                ok = False
                break
        if ok:
            return port
    raise RuntimeError("no common free port")


def free_udp_port():
    """Free for UDP and TCP both: dnsmasq listens on the two."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.bind(("127.0.0.1", 0))
            port = u.getsockname()[1]
            try:
                with socket.socket() as t:
                    t.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue


class Dns:
    """dnsmasq answering only the records given; everything else REFUSED
    (which libunbound reports as SERVFAIL)."""

    def __init__(self, workdir, args):
        self.pidfile = pathlib.Path(workdir) / "dnsmasq.pid"
        self.log = pathlib.Path(workdir) / "dnsmasq.log"
        for attempt in range(5):
            # Another test may take the port between our check and dnsmasq's bind.
            self.port = free_udp_port()
            cmd = ["dnsmasq", "--keep-in-foreground", "--no-resolv", "--no-hosts",
                   f"--port={self.port}", "--listen-address=127.0.0.1", "--bind-interfaces",
                   "--user=root", f"--pid-file={self.pidfile}", "--log-queries",
                   f"--log-facility={self.log}"] + list(args)
            self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            try:
                wait_until(self._ready, timeout=5, what="dnsmasq to start")
                return
            except AssertionError as e:
                if "Address already in use" not in str(e) or attempt == 4:
                    raise

    def _ready(self):
        if self.proc.poll() is not None:
            raise AssertionError(f"dnsmasq exited: {self.proc.stderr.read()!r}")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            # A well-formed query for "." NS; any answer means it listens.
            q = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x01"
            s.settimeout(0.2)
            try:
                s.sendto(q, ("127.0.0.1", self.port))
                s.recv(512)
                return True
            except OSError:
                return False

    @property
    def server(self):
        return f"127.0.0.1:{self.port}"

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=5)


def host_records(name, *ips):
    """Records so that name has exactly these addresses and answers NODATA
    (not REFUSED) for the other address family."""
    args = [f"--local=/{name}/"]
    for ip in ips:
        args.append(f"--address=/{name}/{ip}")
    return args


class Transaction:
    def __init__(self):
        self.helo = None
        self.mail_from = None
        self.mail_params = ""
        self.rcpts = []       # accepted ones
        self.refused = []     # refused ones
        self.wire = b""       # DATA as received, terminator excluded
        self.tls = False

    @property
    def message(self):
        """The content with dot-stuffing removed."""
        lines = self.wire.split(b"\r\n")
        return b"\r\n".join(l[1:] if l.startswith(b".") else l for l in lines)


class Peer:
    """A scripted SMTP server on ip:port. Behaviour knobs (attributes):

    greeting        the first reply, or None to accept and never answer
    ehlo_lines      extension lines after the first EHLO line
    ehlo_raw        raw bytes sent as the whole EHLO reply (hostile tests)
    refuse_ehlo     answer EHLO with 502 (HELO fallback)
    rcpt(addr, n)   reply to the n-th RCPT of addr over all connections
    mail(addr)      reply to MAIL FROM
    data_end(tx, n) reply to the n-th final dot, or None: close without one
    close_mid_data  close after this many octets of content
    tls_context     ssl.SSLContext: offer STARTTLS
    tls_break       after "220 Ready to start TLS", send garbage and close
    auth            (user, password): offer AUTH PLAIN, require it before MAIL
    tls_closes      per TLS session ended by QUIT: True if the client sent
                    close_notify after our 221, False if it just closed
    """

    def __init__(self, ip, port):
        self.ip = ip
        self.port = port
        self.greeting = "220 peer.remote.test ESMTP"
        self.ehlo_lines = ["PIPELINING", "SIZE 20000000", "8BITMIME", "ENHANCEDSTATUSCODES",
                           "SMTPUTF8"]
        self.ehlo_raw = None
        self.refuse_ehlo = False
        self.rcpt = lambda addr, n: "250 2.1.5 Ok"
        self.mail = lambda addr: "250 2.1.0 Ok"
        self.data_end = lambda tx, n: "250 2.0.0 Ok: queued"
        self.close_mid_data = None
        self.tls_context = None
        self.tls_break = False
        self.auth = None
        self.auth_seen = []  # (user, password, over_tls) of every AUTH PLAIN
        self.tls_closes = []
        self.active = 0
        self.max_active = 0
        self.transactions = []  # completed (accepted) ones
        self.connections = 0
        self.commands = []
        self.rcpt_counts = {}
        self.dots = 0
        self.lock = threading.Lock()
        fam = socket.AF_INET6 if ":" in ip else socket.AF_INET
        self.sock = socket.socket(fam)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((ip, port))
        self.sock.listen(64)
        self.stopping = False
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def stop(self):
        self.stopping = True
        try:
            self.sock.close()
        except OSError:
            pass

    def _accept(self):
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
            threading.Thread(target=self._serve_safe, args=(conn,), daemon=True).start()

    def _serve_safe(self, conn):
        with self.lock:
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        try:
            conn.settimeout(30)
            self._serve(conn)
        except (OSError, EOFError, ssl.SSLError):
            pass
        finally:
            with self.lock:
                self.active -= 1
            try:
                conn.close()
            except OSError:
                pass

    def wait_transactions(self, n, timeout=15.0, log=lambda: ""):
        return wait_until(lambda: len(self.transactions) >= n and self.transactions,
                          timeout=timeout,
                          what=f"{n} transaction(s) at {self.ip}\n{log()}")

    def _serve(self, conn):
        f = conn.makefile("rb")

        def send(s):
            if isinstance(s, str):
                s = s.encode()
            conn.sendall(s if s.endswith(b"\n") else s + b"\r\n")

        if self.greeting is None:
            time.sleep(60)
            return
        send(self.greeting)
        tx = Transaction()
        tls = False
        helo = None
        authed = False
        while True:
            line = f.readline(4096)
            if not line:
                return
            cmd = line.rstrip(b"\r\n").decode("utf-8", "replace")
            verb = cmd.split(" ", 1)[0].upper()
            with self.lock:
                self.commands.append(cmd)
            if verb == "EHLO":
                if self.refuse_ehlo:
                    send("502 5.5.2 EHLO not implemented")
                    continue
                if self.ehlo_raw is not None:
                    send(self.ehlo_raw)
                    continue
                exts = list(self.ehlo_lines)
                if self.tls_context and not tls:
                    exts.append("STARTTLS")
                if self.auth:
                    exts.append("AUTH PLAIN LOGIN")
                lines = ["peer.remote.test"] + exts
                send("".join(f"250{'-' if i < len(lines) - 1 else ' '}{l}\r\n"
                             for i, l in enumerate(lines)))
                helo = cmd[5:]
            elif verb == "HELO":
                send("250 peer.remote.test")
                helo = cmd[5:]
            elif verb == "STARTTLS" and self.tls_context and not tls:
                send("220 2.0.0 Ready to start TLS")
                if self.tls_break:
                    conn.sendall(b"this is not a TLS record\r\n" * 4)
                    conn.shutdown(socket.SHUT_RDWR)
                    return
                conn = self.tls_context.wrap_socket(conn, server_side=True)
                f = conn.makefile("rb")
                tls = True
                tx = Transaction()
            elif verb == "AUTH" and self.auth:
                import base64
                parts = cmd.split(" ")
                try:
                    _, user, pw = base64.b64decode(parts[2]).decode().split("\0")
                except Exception:
                    send("501 5.5.2 malformed AUTH")
                    continue
                with self.lock:
                    self.auth_seen.append((user, pw, tls))
                if (user, pw) == tuple(self.auth):
                    authed = True
                    send("235 2.7.0 Authentication successful")
                else:
                    send("535 5.7.8 Authentication credentials invalid")
            elif verb == "MAIL" and self.auth and not authed:
                send("530 5.7.0 Authentication required")
            elif verb == "MAIL":
                r = self.mail(cmd)
                tx = Transaction()
                tx.tls = tls
                tx.helo = helo
                if r.startswith("2"):
                    addr = cmd[cmd.index("<") + 1:cmd.index(">")]
                    tx.mail_from = addr
                    tx.mail_params = cmd[cmd.index(">") + 1:].strip()
                send(r)
            elif verb == "RCPT":
                addr = cmd[cmd.index("<") + 1:cmd.index(">")]
                with self.lock:
                    n = self.rcpt_counts.get(addr, 0) + 1
                    self.rcpt_counts[addr] = n
                r = self.rcpt(addr, n)
                (tx.rcpts if r.startswith("2") else tx.refused).append(addr)
                send(r)
            elif verb == "DATA":
                if tx.mail_from is None or not tx.rcpts:
                    send("554 5.5.1 No valid recipients")
                    continue
                send("354 End data with <CR><LF>.<CR><LF>")
                data = b""
                while not data.endswith(b"\r\n.\r\n") and data != b".\r\n":
                    chunk = f.readline(65536)
                    if not chunk:
                        return
                    data += chunk
                    if self.close_mid_data is not None and len(data) >= self.close_mid_data:
                        conn.shutdown(socket.SHUT_RDWR)
                        return
                tx.wire = data[:-5] if data.endswith(b"\r\n.\r\n") else b""
                with self.lock:
                    self.dots += 1
                    n = self.dots
                r = self.data_end(tx, n)
                if r is None:
                    conn.shutdown(socket.SHUT_RDWR)
                    return
                if r.startswith("2"):
                    with self.lock:
                        self.transactions.append(tx)
                send(r)
                tx = Transaction()
            elif verb == "RSET":
                tx = Transaction()
                send("250 2.0.0 Ok")
            elif verb == "NOOP":
                send("250 2.0.0 Ok")
            elif verb == "QUIT":
                send("221 2.0.0 Bye")
                if tls:
                    conn.suppress_ragged_eofs = False
                    try:
                        clean = conn.recv(1) == b""
                    except (ssl.SSLEOFError, OSError):
                        clean = False
                    with self.lock:
                        self.tls_closes.append(clean)
                return
            else:
                send("502 5.5.2 Error: command not recognized")


class RelayWorld:
    """dnsmasq + peers + a postern configured to use them."""

    def __init__(self, workdir):
        self.workdir = pathlib.Path(workdir)
        self.peers = []
        self.dns = None
        self.port = None

    def start_dns(self, *args):
        self.dns = Dns(self.workdir, [a for group in args for a in
                                      (group if isinstance(group, list) else [group])])
        return self.dns

    def peer(self, ip):
        p = Peer(ip, self.port)
        self.peers.append(p)
        return p

    def stop(self):
        for p in self.peers:
            p.stop()
        if self.dns:
            self.dns.stop()


def self_signed(d, cn="peer.remote.test"):
    d = pathlib.Path(d)
    key, crt = d / "peer.key", d / "peer.crt"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                    str(key), "-out", str(crt), "-days", "2", "-subj", f"/CN={cn}"],
                   check=True, capture_output=True)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(crt), str(key))
    return ctx


import pytest  # noqa: E402


@pytest.fixture
def relay(workdir, make_postern):
    """A RelayWorld; world.postern(settings, aliases) makes the daemon with
    [relay] resolver and port pointing at the world."""
    world = RelayWorld(workdir)
    all_ips = [f"127.0.0.{i}" for i in range(2, 10)] + ["::1"]
    world.port = free_port_on(all_ips)

    def postern(settings=None, aliases=None, **kw):
        s = {"relay": {"resolver": world.dns.server, "port": str(world.port),
                       "retry": "1s, 2s", "connect_timeout": "3s",
                       "greeting_timeout": "5s", "command_timeout": "5s",
                       "data_init_timeout": "5s", "data_block_timeout": "5s",
                       "data_done_timeout": "5s", "dns_timeout": "3s"}}
        for section, values in (settings or {}).items():
            s.setdefault(section, {}).update(values)
        al = list(aliases or []) + [
            "team@example.test: alice@example.test, bob@example.test",
            "postmaster@example.test: alice@example.test",
        ]
        return make_postern(s, aliases=al, **kw)

    world.postern = postern
    yield world
    world.stop()


def send(postern, rcpts, body=b"Subject: relay test\r\n\r\nHello.\r\n", sender="alice@example.test"):
    """Sends one message through postern's smtp listener with smtplib."""
    import smtplib
    if isinstance(rcpts, str):
        rcpts = [rcpts]
    with smtplib.SMTP("127.0.0.1", postern.port, timeout=10) as s:
        s.ehlo("client.example.test")
        s.sendmail(sender, rcpts, body)
    return body

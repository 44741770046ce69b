"""A real Postfix as the remote MX (DESIGN.md section 8): its own config
directory, queue and virtual Maildirs under the test's workdir, one smtpd
listening on ip:port, local-only DNS (none at all: it never looks anything
up), its log in a file."""
import os
import pathlib
import shutil
import socket
import subprocess
import time

from conftest import wait_until

POSTFIX = shutil.which("postfix") or "/usr/sbin/postfix"


def have_postfix():
    return os.path.exists(POSTFIX) and os.path.exists("/etc/postfix/master.cf")


class PostfixPeer:
    def __init__(self, workdir, ip, port, domain, users, tls=None):
        assert have_postfix(), "postfix is not installed (scripts/deps test installs it)"
        self.base = pathlib.Path(workdir) / "postfix"
        self.conf = self.base / "conf"
        self.vmail = self.base / "vmail"
        self.maillog = self.base / "maillog"
        for d in (self.conf, self.base / "queue", self.base / "data", self.vmail):
            d.mkdir(parents=True, exist_ok=True)
        os.chmod(self.base, 0o755)
        shutil.chown(self.base / "data", "postfix")
        shutil.chown(self.vmail, "postfix")
        uid = int(subprocess.check_output(["id", "-u", "postfix"]))
        gid = int(subprocess.check_output(["id", "-g", "postfix"]))
        main = f"""compatibility_level = 3.6
queue_directory = {self.base}/queue
data_directory = {self.base}/data
mail_owner = postfix
myhostname = mx.{domain}
mydomain = {domain}
mydestination =
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_peername_lookup = no
disable_dns_lookups = yes
smtp_dns_support_level = disabled
maillog_file = {self.maillog}
maillog_file_prefixes = {self.base}
virtual_mailbox_domains = {domain}
virtual_mailbox_base = {self.vmail}
virtual_mailbox_maps = texthash:{self.conf}/vmailbox
virtual_uid_maps = static:{uid}
virtual_gid_maps = static:{gid}
virtual_minimum_uid = 1
smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination
biff = no
append_dot_mydomain = no
"""
        if tls:
            main += f"""smtpd_tls_security_level = may
smtpd_tls_cert_file = {tls['cert']}
smtpd_tls_key_file = {tls['key']}
smtpd_tls_loglevel = 1
"""
        (self.conf / "main.cf").write_text(main)
        (self.conf / "vmailbox").write_text(
            "".join(f"{u}@{domain} {u}/\n" for u in users))
        # master.cf: Debian's, with our listener instead of port 25 and no
        # chroot anywhere (DESIGN.md section 8).
        out = []
        for line in pathlib.Path("/etc/postfix/master.cf").read_text().splitlines():
            f = line.split()
            if line and not line[0].isspace() and not line.startswith("#") and len(f) >= 8:
                if f[0] == "smtp" and f[1] == "inet":
                    f[0] = f"{ip}:{port}"
                f[4] = "n"
                line = " ".join(f)
            out.append(line)
        (self.conf / "master.cf").write_text("\n".join(out) + "\n")
        r = subprocess.run([POSTFIX, "-c", str(self.conf), "start"], capture_output=True)
        assert r.returncode == 0, f"postfix start failed: {r.stderr!r} {self.log()}"
        wait_until(lambda: self._listening(ip, port), timeout=15,
                   what=f"postfix to listen on {ip}:{port}\n{self.log()}")

    @staticmethod
    def _listening(ip, port):
        try:
            socket.create_connection((ip, port), timeout=1).close()
            return True
        except OSError:
            return False

    def log(self):
        try:
            return self.maillog.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def delivered(self, user):
        new = self.vmail / user / "new"
        return [p.read_bytes() for p in sorted(new.iterdir())] if new.is_dir() else []

    def stop(self):
        subprocess.run([POSTFIX, "-c", str(self.conf), "stop"], capture_output=True)
        pid_file = self.base / "queue" / "pid" / "master.pid"
        deadline = time.monotonic() + 10
        while pid_file.exists() and time.monotonic() < deadline:
            try:
                os.kill(int(pid_file.read_text().strip()), 0)
            except (OSError, ValueError):
                break
            time.sleep(0.1)

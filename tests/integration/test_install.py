"""`make install-files` into a staging tree (DESTDIR) leaves a system that
`postern check` accepts, as the unit file's ExecStartPre runs it, and every
file the unit names is installed. The installed configuration's absolute
paths (/etc/postern, /var/lib/postern) are moved under DESTDIR, and nothing
else in it is changed."""
import grp
import os
import pathlib
import re
import shlex
import stat
import subprocess

from conftest import BIN

ROOT = pathlib.Path(__file__).resolve().parents[2]


def install(dest):
    r = subprocess.run(["make", "-s", "-C", str(ROOT), "install-files", f"DESTDIR={dest}",
                        f"POSTERN_BIN={BIN}"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    return r


def staged(dest, path):
    """An absolute path of the installed system, inside the staging tree."""
    assert path.startswith("/"), path
    return dest / path.lstrip("/")


def stage_conf(dest):
    """The installed postern.conf with each absolute path value moved under
    dest (comments and everything else kept as installed)."""
    conf = dest / "etc/postern/postern.conf"
    text = conf.read_text()
    moved = re.sub(r"(?m)^(\s*[a-z_]+\s*=\s*)(/\S*)", lambda m: m.group(1) + str(staged(dest, m.group(2))),
                   text)
    conf.write_text(moved)
    return conf, text


def unit(dest):
    """The installed unit file as {key: [values]} (all sections)."""
    out = {}
    for line in staged(dest, "/lib/systemd/system/postern.service").read_text().splitlines():
        if "=" in line and not line.startswith(("#", ";", "[")):
            k, v = line.split("=", 1)
            out.setdefault(k.strip(), []).append(v.strip())
    return out


def check_command(dest):
    """The unit's ExecStartPre (postern -c CONF check), with CONF in dest."""
    [pre] = unit(dest)["ExecStartPre"]
    argv = shlex.split(pre)
    assert argv[0] == "/usr/sbin/postern" and argv[1] == "-c" and argv[3] == "check", argv
    assert staged(dest, argv[0]).is_file() and os.access(staged(dest, argv[0]), os.X_OK)
    return [BIN, "-c", str(staged(dest, argv[2])), "check"]


def test_installed_configuration_passes_check(workdir):
    dest = workdir / "dest"
    install(dest)
    conf, original = stage_conf(dest)
    # The installed file points at the installed system, not at the tree.
    assert "/var/lib/postern" in original and str(dest) not in original
    r = subprocess.run(check_command(dest), capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "configuration is valid" in r.stdout + r.stderr
    # A user added to the installed users file keeps it valid.
    r = subprocess.run([BIN, "-c", str(conf), "user", "add", "someone@example.org", "--password-stdin"],
                       input="a long password\n", capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    r = subprocess.run(check_command(dest), capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_users_and_aliases_files_are_installed_with_their_modes(workdir):
    dest = workdir / "dest"
    install(dest)
    users, aliases = dest / "etc/postern/users", dest / "etc/postern/aliases"
    assert users.read_bytes() == b"" and aliases.read_bytes() == b""
    # users holds password hashes: not world-readable; the daemon (group
    # postern) re-reads it on SIGHUP.
    st = users.stat()
    assert stat.S_IMODE(st.st_mode) == 0o640, oct(st.st_mode)
    assert st.st_uid == 0 and st.st_gid == grp.getgrnam("postern").gr_gid
    assert stat.S_IMODE(aliases.stat().st_mode) == 0o644


def test_unit_documentation_and_files_are_installed(workdir):
    dest = workdir / "dest"
    install(dest)
    u = unit(dest)
    [doc] = u["Documentation"]
    assert doc.startswith("file:///"), doc
    target = staged(dest, doc[len("file://"):])
    assert target.is_file(), f"{doc} is not installed"
    assert target.read_bytes() == (ROOT / "README.md").read_bytes()
    for cmd in u["ExecStart"] + u["ExecStartPre"]:
        argv = shlex.split(cmd)
        assert staged(dest, argv[0]).is_file(), cmd
        assert staged(dest, argv[argv.index("-c") + 1]).is_file(), cmd


def test_reinstall_keeps_the_configuration(workdir):
    dest = workdir / "dest"
    install(dest)
    etc = dest / "etc/postern"
    (etc / "postern.conf").write_text("; mine\n")
    (etc / "users").write_text("someone@example.org:!\n")
    (etc / "aliases").write_text("postmaster@example.org: someone@example.org\n")
    os.chmod(etc / "users", 0o600)
    install(dest)
    assert (etc / "postern.conf").read_text() == "; mine\n"
    assert (etc / "users").read_text() == "someone@example.org:!\n"
    assert stat.S_IMODE((etc / "users").stat().st_mode) == 0o600
    assert (etc / "aliases").read_text() == "postmaster@example.org: someone@example.org\n"


def test_a_broken_installed_configuration_fails_check(workdir):
    """The check the test relies on is real: a bad installed file fails it."""
    dest = workdir / "dest"
    install(dest)
    stage_conf(dest)
    (dest / "etc/postern/aliases").write_text("not an alias line\n")
    r = subprocess.run(check_command(dest), capture_output=True, text=True)
    assert r.returncode == 1
    assert "aliases" in r.stdout + r.stderr
    (dest / "etc/postern/aliases").write_text("")
    (dest / "etc/postern/users").unlink()
    r = subprocess.run(check_command(dest), capture_output=True, text=True)
    assert r.returncode == 1 and "users" in r.stdout + r.stderr

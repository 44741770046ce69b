"""bench/imap_run's mail: realistic small messages, generated once (seeded)
into a cache directory, copied for each server with hard links; and the
users' yescrypt hash. Imported by imap_run."""
import base64
import ctypes
import os
import pathlib
import random
import shutil
import subprocess
import sys
import time

CACHE = pathlib.Path(os.environ.get("POSTERN_BENCH_IMAP_CACHE", "/var/tmp/postern-bench-imap"))


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def now():
    return time.monotonic()


FIRST = ["Alice", "Bob", "Carol", "Dave", "Erin", "Frank", "Grace", "Heidi", "Ivan", "Judy",
         "Mallory", "Niaj", "Olivia", "Peggy", "Rupert", "Sybil", "Trent", "Victor", "Walter"]
LAST = ["Martin", "Nguyen", "Schmidt", "Rossi", "Kowalski", "Dubois", "Silva", "Jensen"]
DOMAINS = ["example.test", "mail.example.org", "lists.example.net", "corp.example.com"]
WORDS = ("meeting report invoice schedule update project review draft budget release notes "
         "question answer follow-up weekly status travel lunch contract proposal patch build "
         "server outage holiday photos minutes agenda feedback reminder ticket order").split()
LOREM = ("the quick brown fox jumps over the lazy dog while we wait for the results of the "
         "benchmark and discuss what the numbers mean for next week plans").split()


def gen_message(rng, i, when):
    first, last = rng.choice(FIRST), rng.choice(LAST)
    frm = f"{first} {last} <{first.lower()}.{last.lower()}@{rng.choice(DOMAINS)}>"
    to = f"{rng.choice(FIRST)} <{rng.choice(FIRST).lower()}@bench.test>"
    subj = " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 7))).capitalize()
    if rng.random() < 0.3:
        subj = "Re: " + subj
    date = email_date(when)
    h = [f"Return-Path: <{first.lower()}@{rng.choice(DOMAINS)}>",
         f"Received: from mx{rng.randint(1, 9)}.example.test (mx.example.test [192.0.2.{rng.randint(1, 254)}])\n"
         f"\tby mx.bench.test with ESMTPS id {rng.getrandbits(48):012x}; {date}",
         f"From: {frm}", f"To: {to}"]
    if rng.random() < 0.2:
        h.append(f"Cc: {rng.choice(FIRST)} <{rng.choice(FIRST).lower()}@example.org>")
    h += [f"Subject: {subj}", f"Date: {date}", f"Message-ID: <{i}.{rng.getrandbits(32):x}@gen.bench.test>"]
    if subj.startswith("Re:"):
        ref = f"<{rng.randint(0, max(i, 1))}.{rng.getrandbits(32):x}@gen.bench.test>"
        h += [f"In-Reply-To: {ref}", f"References: {ref}"]
    if rng.random() < 0.3:
        h.append(f"List-Id: <{rng.choice(WORDS)}.lists.example.net>")
    h.append("MIME-Version: 1.0")
    r = rng.random()
    size = (rng.randint(200, 3500) if r < 0.7 else rng.randint(3500, 16000) if r < 0.95
            else rng.randint(16000, 64000))

    def text(n):
        out, line = [], []
        total = 0
        while total < n:
            w = rng.choice(LOREM)
            line.append(w)
            total += len(w) + 1
            if len(line) > 11:
                out.append(" ".join(line))
                line = []
        out.append(" ".join(line))
        return "\n".join(out) + "\n"
    if size > 16000:
        b = "b" + "%016x" % rng.getrandbits(64)
        h.append(f'Content-Type: multipart/mixed; boundary="{b}"')
        att = base64.encodebytes(rng.randbytes(size * 3 // 4 - 2000)).decode()
        body = (f"--{b}\nContent-Type: text/plain; charset=utf-8\n\n{text(1500)}\n--{b}\n"
                f"Content-Type: application/octet-stream; name=\"file{i}.bin\"\n"
                f"Content-Transfer-Encoding: base64\n"
                f"Content-Disposition: attachment; filename=\"file{i}.bin\"\n\n{att}--{b}--\n")
    else:
        h.append("Content-Type: text/plain; charset=utf-8")
        body = text(size)
    return ("\n".join(h) + "\n\n" + body).encode()


def email_date(t):
    return time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(t))


def make_maildir(path, n, seed):
    """A Maildir (cur/ new/ tmp/) of N messages in cur/, with flags, dates
    over two years (file mtime = internal date) and Dovecot-style names."""
    rng = random.Random(seed)
    for sub in ("cur", "new", "tmp"):
        (path / sub).mkdir(parents=True, exist_ok=True)
    t0 = 1730000000
    for i in range(n):
        when = t0 + i * (63072000 // max(n, 1)) + rng.randint(0, 600)
        data = gen_message(rng, i, when)
        flags = ("" if rng.random() < 0.3 else "S")
        if rng.random() < 0.1:
            flags = "R" + flags
        if rng.random() < 0.05:
            flags = "F" + flags
        flags = "".join(sorted(flags))
        crlf_size = len(data) + data.count(b"\n")
        name = (f"{when}.M{rng.randint(0, 999999)}P{1000 + i % 30000}Q{i}.gen.bench.test,"
                f"S={len(data)},W={crlf_size}:2,{flags}")
        p = path / "cur" / name
        p.write_bytes(data)
        os.utime(p, (when, when))


def corpus(kind, n):
    """The cached Maildir of N messages (generated once under CACHE)."""
    d = CACHE / f"{kind}-{n}-v1"
    if (d / "complete").exists():
        return d / "Maildir"
    shutil.rmtree(d, ignore_errors=True)
    log(f"imap_run: generating {n} messages into {d} (once)")
    t = now()
    make_maildir(d / "Maildir", n, seed=len(kind) * 7919 + n)
    (d / "complete").write_text("")
    log(f"imap_run: generated in {now() - t:.0f} s")
    return d / "Maildir"


def copy_maildir(src, dst):
    """Hard links for the message files (neither server writes into one; flags
    are renames), real copies of everything else: each server sees only its
    own index files."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["cp", "-al", str(src), str(dst)], check=True)


def yescrypt(password):
    lib = ctypes.CDLL("libcrypt.so.1")
    lib.crypt_gensalt.restype = ctypes.c_char_p
    lib.crypt_gensalt.argtypes = [ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p, ctypes.c_int]
    lib.crypt.restype = ctypes.c_char_p
    lib.crypt.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    salt = lib.crypt_gensalt(b"$y$", 0, None, 0)
    return lib.crypt(password.encode(), salt).decode()

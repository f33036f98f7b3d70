#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""tests/integration/treelist.py: canonical listing of a directory tree.

One line per entry, sorted by the raw bytes of the path, with everything an
image layer must preserve:

  path type mode uid gid [size sha256 | -> target | rdev] [hardlink group]
  [mtime] [xattrs]

* path: relative to the root ("." for the root), bytes outside printable
  ASCII (and backslash, space) escaped as \\xNN so that names with spaces,
  newlines or UTF-8 stay one line.
* mode: the permission bits including setuid/setgid/sticky, in octal.
* hardlink group: for non-directories whose inode appears under more than one
  path in the tree, "link=<first path of the group>" (groups are normalised
  to the first path, so inode numbers never show).
* xattrs: every extended attribute (user.*, trusted.*, security.*,
  system.posix_acl_*) as name=hex, sorted.
* mtime (with --mtime): whole seconds; --mtime-ns for nanoseconds.  The root
  directory's mtime is never listed (extraction tools treat it differently).

Options: --mtime, --mtime-ns, --no-root (omit the root entry),
--exclude PATH (relative path, repeatable; excludes the subtree),
--skip-xattr PREFIX (repeatable; xattrs whose name starts with PREFIX are
not listed, e.g. system.posix_acl_ for a view through GNU tar, which does not
restore ACLs stored as SCHILY.xattr.system.posix_acl_* records).
"""
import hashlib
import os
import stat
import sys


def esc(b):
    out = []
    for c in b:
        if 0x21 <= c <= 0x7E and c != 0x5C:
            out.append(chr(c))
        else:
            out.append("\\x%02x" % c)
    return "".join(out)


def ftype(m):
    for test, name in (
        (stat.S_ISREG, "file"),
        (stat.S_ISDIR, "dir"),
        (stat.S_ISLNK, "symlink"),
        (stat.S_ISCHR, "char"),
        (stat.S_ISBLK, "block"),
        (stat.S_ISFIFO, "fifo"),
        (stat.S_ISSOCK, "socket"),
    ):
        if test(m):
            return name
    return "unknown"


def file_hash(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def xattrs(path, skip):
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return []
    out = []
    for n in sorted(names):
        if any(n.startswith(p) for p in skip):
            continue
        try:
            v = os.getxattr(path, n, follow_symlinks=False)
        except OSError as e:
            v = ("<%s>" % e.strerror).encode()
        out.append("%s=%s" % (n, v.hex()))
    return out


def main(argv):
    opts = {"mtime": False, "mtime_ns": False, "root": True}
    excludes = set()
    skip = []
    args = []
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--mtime":
            opts["mtime"] = True
        elif a == "--mtime-ns":
            opts["mtime_ns"] = True
        elif a == "--no-root":
            opts["root"] = False
        elif a == "--exclude":
            i += 1
            excludes.add(os.fsencode(argv[i].strip("/")))
        elif a == "--skip-xattr":
            i += 1
            skip.append(argv[i])
        else:
            args.append(a)
        i += 1
    if len(args) != 1:
        sys.stderr.write("usage: treelist.py [options] DIR\n")
        return 2
    root = os.fsencode(args[0])

    entries = []  # (relpath bytes, lstat)

    def walk(rel):
        full = os.path.join(root, rel) if rel else root
        st = os.lstat(full)
        entries.append((rel if rel else b".", st))
        if stat.S_ISDIR(st.st_mode):
            for name in os.listdir(full):
                r = os.path.join(rel, name) if rel else name
                if r in excludes:
                    continue
                walk(r)

    walk(b"")
    entries.sort(key=lambda e: e[0])

    groups = {}
    for rel, st in entries:
        if not stat.S_ISDIR(st.st_mode):
            groups.setdefault((st.st_dev, st.st_ino), []).append(rel)

    for rel, st in entries:
        if rel == b"." and not opts["root"]:
            continue
        full = root if rel == b"." else os.path.join(root, rel)
        m = st.st_mode
        t = ftype(m)
        f = [esc(rel), t, "%04o" % stat.S_IMODE(m), "uid=%d" % st.st_uid, "gid=%d" % st.st_gid]
        if t == "file":
            f.append("size=%d" % st.st_size)
            f.append("sha256=%s" % file_hash(full))
        elif t == "symlink":
            f.append("-> " + esc(os.readlink(full)))
        elif t in ("char", "block"):
            f.append("rdev=%d:%d" % (os.major(st.st_rdev), os.minor(st.st_rdev)))
        if t != "dir":
            g = groups[(st.st_dev, st.st_ino)]
            if len(g) > 1:
                f.append("link=" + esc(g[0]))
        if rel != b".":
            if opts["mtime_ns"]:
                f.append("mtime=%d" % st.st_mtime_ns)
            elif opts["mtime"]:
                f.append("mtime=%d" % (st.st_mtime_ns // 1000000000))
        f.extend(xattrs(full, skip))
        sys.stdout.write(" ".join(f) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

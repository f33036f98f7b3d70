#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""tests/integration/imgdiff.py: compare two container images (or one image
against a golden expectation), for the differential build suite
(build-diff.sh: cairn build vs buildah bud, BuildKit semantics as the
reference).  Python 3 standard library only (zstd layers need the `zstd`
program).

Usage:
  imgdiff.py A B [--layout-a DIR[:TAG]] [--layout-b DIR[:TAG]]
                 [--config-a FILE] [--config-b FILE] [--accept FILE]
                 [--name-a buildah] [--name-b cairn] [--stubs-a]
  imgdiff.py B --expect-tree FILE [--expect FILE] [--layout-b DIR[:TAG]]
                 [--config-b FILE] [--name-b cairn]          (golden mode)

A and B are umoci bundles (directories holding rootfs/) or root filesystem
directories.  --layout-X gives the OCI layout the bundle came from: its
image config (unless --config-X names one) and its layer blobs (for the
per-layer comparison).  Exit status 0 when the images agree (after the
accepted differences), 1 when they differ, 2 on usage errors.

How an image is compared: both are reduced to a set of *facts*, KEY -> VALUE
strings, and the facts are compared key by key.  A difference is printed as

  KEY: VALUE_A (buildah) != VALUE_B (cairn)

The keys:

  /PATH: type        file, dir, symlink, char, block, fifo, socket, or absent
  /PATH: mode        all 12 permission bits, octal (0755, 4755, 1777, 0000)
  /PATH: owner       uid:gid (numeric)
  /PATH: sha256      regular files: sha256 of the content
  /PATH: target      symlinks: the link target
  /PATH: rdev        char/block devices: major,minor
  /PATH: xattr NAME  extended attributes (value printed, or hex: when binary)
  /PATH: links       the hardlink group: every path of the tree sharing the
                     inode, sorted (groups compared as partitions: two trees
                     agree when every path has the same set of partners;
                     inode numbers never matter)
  config.FIELD       the image config's config object (Env, Cmd, Entrypoint,
                     WorkingDir, User, ExposedPorts, Volumes, Labels,
                     StopSignal, Shell, Healthcheck, OnBuild, ... every
                     field either side has), as canonical JSON
  image.FIELD        architecture, os, variant, os.version, author; and
                     image.created: "present" when the config has a valid
                     RFC 3339 "created" (its value is never compared)
  layers: count      number of layers (rootfs.diff_ids), and
  layers: consistent whether diff_ids, manifest layers and the non-empty
                     history entries agree in number
  history[I]         the normalised created_by of history entry I (below)
  history[I]: empty_layer   true / false
  history[I]: build-args    RUN entries: the "|N K=V ..." prefix, as a sorted
                     space-separated list of K=V
  history[I] /PATH   what the layer of history entry I did to PATH (only with
                     both layouts): "deleted", or "TYPE MODE UID:GID [sha256:
                     HEX12 | -> TARGET | rdev M,N]" for an entry it added or
                     changed.  See "Layer effects" below.

Absent paths: when a path is absent on one side only its type is reported,
and entries below a path that is absent on the same side are not repeated
("and N entries below").

Normalisations (each is a documented, deliberate blind spot):

* mtimes (files, directories, history "created", image "created") are never
  compared; image.created is only checked to exist and parse.
* The root directory itself (its mode and owner) is not compared: tools
  disagree on whether layers carry a "./" entry, and runtimes ignore it.
* config fields that are null, [], {} or "" count as absent (Docker and
  BuildKit treat them the same; e.g. an ENTRYPOINT that resets an inherited
  CMD leaves Cmd null or absent).
* history created_by: buildah and BuildKit describe steps differently
  (buildah: "/bin/sh -c #(nop) ENV A=b", "/bin/sh -c #(nop) COPY file:<hex>
  in /dst ", "/bin/sh -c <original RUN text>"; BuildKit: "ENV A=b",
  "COPY src /dst # buildkit", "RUN /bin/sh -c cmd # buildkit",
  "EXPOSE map[80/tcp:{}]").  Normalised to:
    - RUN: "RUN " + the command as executed: the shell words and the command
      for the shell form ("/bin/sh -c echo hi"), the argv joined by spaces for
      the exec form; RUN flags (--network=..., --mount=..., --security=...)
      dropped; the build-arg prefix "|N K=V ..." split off into
      history[I]: build-args.  (buildah always writes "/bin/sh -c" even
      under a custom SHELL, BuildKit writes the real shell: a real difference,
      listed per case in expect-diff.)
    - every other instruction: its keyword only (COPY, ADD, ENV, LABEL,
      WORKDIR, USER, ...): what COPY/ADD did is compared through the layer
      effects and the tree, what ENV/LABEL/... did through the config.
    - entries that are not Dockerfile steps (e.g. "umoci repack" of the base)
      are kept verbatim.
  The history "comment" and "author" fields are not compared.
* Layer blobs are not compared byte for byte (compression, entry order, PAX
  headers, mtimes and the choice of whiteout form legitimately differ); their
  *effects* are (below).  Layers that are byte-identical on both sides (same
  diff_id at the same index with identical layers below: the base image)
  produce no facts.
* --stubs-a: side A is buildah, which leaves empty mount stubs in images it
  ran containers on (/proc /dev /sys /run as empty directories, /etc/hosts
  /etc/resolv.conf /etc/hostname as empty files); BuildKit and cairn remove
  them (DESIGN.md, "Reference semantics").  Exactly those paths are dropped
  from side A, and only when they are empty (a directory without entries, a
  regular file of size 0) and side B does not have them; also from A's layer
  effects under the same conditions.

Layer effects: each side's layers are applied in order to an in-memory model
of the tree (tar headers and content hashes, whiteouts and opaque markers
applied to the lower layers first, as the OCI spec says).  The effect of a
layer is the difference between the model before and after it:
  - "deleted" for the top-most paths that disappeared (so an opaque
    directory and a whiteout per child have the same effect),
  - the new attributes of every path that appeared or changed type, mode,
    owner, content, target, device or xattrs, and of every non-directory the
    layer carries even unchanged (a rewrite with the same bytes is still a
    write); directories carried only as parents of other entries, with
    unchanged attributes, are not effects.
Effects are keyed by history entry (layer k belongs to the k-th history entry
with empty_layer false), so a step that made a layer on one side and none on
the other shows up as history[I]: empty_layer plus its effects, without
shifting every later layer.  Layers whose media type is zstd need `zstd`.

Accepted differences (--accept FILE, a case's expect-diff): lines

  KEY = VALUE        # comment

where KEY is a fact key exactly as printed and VALUE the expected value on
side B, the BuildKit behaviour (e.g. "config.Healthcheck = {...}",
"/data: type = absent", "history[4]: empty_layer = false").  For an
accepted key, side A's value is ignored and side B must have VALUE: a
mismatch is reported as "KEY: VALUE_B (cairn) != VALUE (expected)".  A "*"
in VALUE matches any text (e.g. "history[3] /x = file 4755 0:0 sha256:*").
An accepted "KEY = absent" also covers what lies below KEY where side B has
nothing either: "/PATH: type = absent" the paths below PATH, "history[I]
/PATH = absent" the effects below PATH, "history[aI] = absent" (an entry only
side A has) its ": empty_layer", ": build-args" and layer effects.  For a
path side A lacks, its attributes on side B (mode, owner, sha256, ...) are
not compared, but may still be accepted, i.e. required ("/new: sha256 =
HEX").  An accepted key whose A value already matches is noted ("accepted
difference not seen") but is not an error.  A "#" after two spaces starts a
comment; blank lines and lines starting with # are ignored.

Golden mode (one image, no oracle: heredocs, which buildah 1.28 lacks):
--expect-tree FILE lists the paths to check, one per line,
  PATH TYPE MODE UID:GID [text=ESCAPED | sha256=HEX | -> TARGET |
                          rdev=MAJ,MIN] [links=PATH,PATH...]
  PATH absent
(shell-like quoting: shlex; text= is Python-escaped, e.g.
'text=hello\\n'); paths not listed are not checked.  --expect FILE holds
KEY = VALUE lines (any fact key, e.g. config.Cmd = ["sh"]) that side B must
have.
"""
import argparse
import codecs
import datetime
import gzip
import hashlib
import io
import json
import os
import re
import shlex
import stat
import subprocess
import sys
import tarfile

STUBS = {"/proc", "/dev", "/sys", "/run", "/etc/hosts", "/etc/resolv.conf",
         "/etc/hostname"}

# ---- paths -------------------------------------------------------------------


def esc_path(b):
    """A path (bytes) for display: UTF-8 as is, control characters, DEL,
    backslash and undecodable bytes as \\xNN."""
    out = []
    s = b.decode("utf-8", "surrogateescape")
    for ch in s:
        o = ord(ch)
        if 0xDC80 <= o <= 0xDCFF:  # undecodable byte
            out.append("\\x%02x" % (o - 0xDC00))
        elif o < 0x20 or o == 0x7F or ch == "\\":
            out.append("\\x%02x" % o)
        else:
            out.append(ch)
    return "".join(out)


def esc_bytes(b):
    """An xattr value / link target: text when printable UTF-8, else hex:."""
    try:
        s = b.decode("utf-8")
        if all(0x20 <= ord(c) != 0x7F for c in s):
            return s
    except UnicodeDecodeError:
        pass
    return "hex:" + b.hex()


def ftype(m):
    for test, name in ((stat.S_ISREG, "file"), (stat.S_ISDIR, "dir"),
                       (stat.S_ISLNK, "symlink"), (stat.S_ISCHR, "char"),
                       (stat.S_ISBLK, "block"), (stat.S_ISFIFO, "fifo"),
                       (stat.S_ISSOCK, "socket")):
        if test(m):
            return name
    return "unknown"


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


# ---- tree facts ----------------------------------------------------------------


class Entry:
    """One path of a tree (from the file system or from the layer model)."""
    __slots__ = ("type", "mode", "uid", "gid", "sha256", "size", "target",
                 "rdev", "xattrs", "inode")

    def __init__(self, type_, mode, uid, gid, sha256=None, size=0, target=None,
                 rdev=None, xattrs=None, inode=None):
        self.type = type_
        self.mode = mode
        self.uid = uid
        self.gid = gid
        self.sha256 = sha256
        self.size = size
        self.target = target
        self.rdev = rdev
        self.xattrs = xattrs or {}
        self.inode = inode

    def attrs(self):
        """The comparable attributes as (name, value) pairs."""
        out = [("type", self.type), ("mode", "%04o" % self.mode),
               ("owner", "%d:%d" % (self.uid, self.gid))]
        if self.type == "file":
            out.append(("sha256", self.sha256))
        elif self.type == "symlink":
            out.append(("target", esc_bytes(self.target)))
        elif self.type in ("char", "block"):
            out.append(("rdev", "%d,%d" % self.rdev))
        for n in sorted(self.xattrs):
            out.append(("xattr " + n, esc_bytes(self.xattrs[n])))
        return out

    def summary(self):
        s = "%s %04o %d:%d" % (self.type, self.mode, self.uid, self.gid)
        if self.type == "file":
            s += " sha256:" + self.sha256[:12]
        elif self.type == "symlink":
            s += " -> " + esc_bytes(self.target)
        elif self.type in ("char", "block"):
            s += " rdev %d,%d" % self.rdev
        for n in sorted(self.xattrs):
            s += " %s=%s" % (n, esc_bytes(self.xattrs[n]))
        return s


def read_tree(root):
    """{path bytes ("/a/b") -> Entry} for a directory tree (root excluded)."""
    entries = {}
    rootb = os.fsencode(root)

    def walk(d, rel):
        try:
            names = sorted(os.listdir(d))
        except OSError as e:
            raise SystemExit("imgdiff: cannot list %s: %s" % (d, e))
        for n in names:
            p = os.path.join(d, n)
            r = rel + b"/" + n
            st = os.lstat(p)
            t = ftype(st.st_mode)
            e = Entry(t, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid,
                      inode=(st.st_dev, st.st_ino) if t != "dir" else None)
            if t == "file":
                e.sha256 = sha256_file(p)
                e.size = st.st_size
            elif t == "symlink":
                e.target = os.readlink(p)
            elif t in ("char", "block"):
                e.rdev = (os.major(st.st_rdev), os.minor(st.st_rdev))
            try:
                for x in os.listxattr(p, follow_symlinks=False):
                    e.xattrs[x] = os.getxattr(p, x, follow_symlinks=False)
            except OSError:
                pass
            entries[r] = e
            if t == "dir":
                walk(p, r)

    walk(rootb, b"")
    return entries


def hardlink_groups(entries):
    """{path -> sorted tuple of the paths sharing its inode} for groups > 1."""
    by_ino = {}
    for p, e in entries.items():
        if e.inode is not None:
            by_ino.setdefault(e.inode, []).append(p)
    out = {}
    for paths in by_ino.values():
        if len(paths) > 1:
            g = tuple(sorted(paths))
            for p in paths:
                out[p] = g
    return out


def is_empty_stub(path, entries):
    e = entries.get(path)
    if e is None:
        return False
    if e.type == "dir":
        pre = path + b"/"
        return not any(p.startswith(pre) for p in entries)
    return e.type == "file" and e.size == 0


def tree_facts(entries):
    """Facts of a tree: {key: value} plus {key: path} for grouping."""
    facts = {}
    links = hardlink_groups(entries)
    for p, e in entries.items():
        ps = esc_path(p)
        for a, v in e.attrs():
            facts["%s: %s" % (ps, a)] = v
        if p in links:
            facts["%s: links" % ps] = " ".join(esc_path(x) for x in links[p])
    return facts


# ---- image config, layout ----------------------------------------------------------


def load_json(path):
    with open(path, "rb") as f:
        return json.load(f)


class Layout:
    """An OCI image layout and one image (manifest) in it."""

    def __init__(self, spec):
        d, tag = spec, None
        if not os.path.isdir(d) and ":" in spec:
            d, tag = spec.rsplit(":", 1)
        self.dir = d
        idx = load_json(os.path.join(d, "index.json"))
        mans = idx.get("manifests", [])
        if tag is not None:
            mans = [m for m in mans if m.get("annotations", {}).get(
                "org.opencontainers.image.ref.name") == tag]
        if len(mans) != 1:
            raise SystemExit("imgdiff: %s: %d manifests match%s" % (
                d, len(mans), " tag " + tag if tag else ""))
        desc = mans[0]
        m = self.blob_json(desc["digest"])
        if "manifests" in m:  # an index: the one platform manifest in it
            sub = [x for x in m["manifests"]
                   if x.get("mediaType", "").endswith("manifest.v1+json")
                   and x.get("platform", {}).get("architecture") != "unknown"]
            if len(sub) != 1:
                raise SystemExit("imgdiff: %s: index with %d image manifests"
                                 % (d, len(sub)))
            m = self.blob_json(sub[0]["digest"])
        self.manifest = m
        self.config = self.blob_json(m["config"]["digest"])
        self.layers = m.get("layers", [])

    def blob_path(self, digest):
        alg, hexd = digest.split(":", 1)
        return os.path.join(self.dir, "blobs", alg, hexd)

    def blob_json(self, digest):
        return load_json(self.blob_path(digest))

    def open_layer(self, desc):
        """A binary stream of the uncompressed layer tar."""
        p = self.blob_path(desc["digest"])
        mt = desc.get("mediaType", "")
        with open(p, "rb") as f:
            magic = f.read(4)
        if mt.endswith("+zstd") or magic == b"\x28\xb5\x2f\xfd":
            data = subprocess.run(["zstd", "-dcq", p], check=True,
                                  stdout=subprocess.PIPE).stdout
            return io.BytesIO(data)
        if mt.endswith("+gzip") or magic[:2] == b"\x1f\x8b":
            return gzip.open(p, "rb")
        return open(p, "rb")


def canon(v):
    return json.dumps(v, sort_keys=True, ensure_ascii=False,
                      separators=(",", ":"))


def empty(v):
    return v is None or v == [] or v == {} or v == ""


RUN_FLAG = re.compile(r"^--(network|mount|security|device)(=\S*|\s+\S+)\s+")
ARGS_PREFIX = re.compile(r"^\|(\d+) ")


def split_build_args(s):
    """ '|2 A=1 B=2 rest' -> (['A=1','B=2'], 'rest'). """
    m = ARGS_PREFIX.match(s)
    if not m:
        return None, s
    n = int(m.group(1))
    rest = s[m.end():]
    args = []
    for _ in range(n):
        # K=V where V has no spaces in practice (values with spaces would be
        # ambiguous in this format for both tools)
        k, _, rest = rest.partition(" ")
        args.append(k)
    return sorted(args), rest


def norm_run_cmd(cmd):
    """The command part of a RUN: flags dropped, exec form JSON joined."""
    while True:
        m = RUN_FLAG.match(cmd)
        if not m:
            break
        cmd = cmd[m.end():]
    c = cmd.strip()
    if c.startswith("["):
        try:
            argv = json.loads(c)
            if isinstance(argv, list) and all(isinstance(a, str) for a in argv):
                return " ".join(argv)
        except ValueError:
            pass
    return cmd


def norm_created_by(cb):
    """(normalised created_by, build-args or None); see the docstring."""
    if cb is None:
        return "", None
    s = cb
    if s.endswith(" # buildkit"):
        s = s[: -len(" # buildkit")]
    nop = "/bin/sh -c #(nop) "
    if s.startswith(nop):  # buildah / classic docker metadata step
        rest = s[len(nop):].strip()
        return rest.split(" ", 1)[0].upper(), None
    if s.startswith("RUN "):  # BuildKit
        args, rest = split_build_args(s[4:])
        return "RUN " + rest, args
    if s.startswith("|") and ARGS_PREFIX.match(s):  # buildah RUN with args
        args, rest = split_build_args(s)
        if rest.startswith("/bin/sh -c "):
            rest = rest[len("/bin/sh -c "):]
            cmd = norm_run_cmd(rest)
            if cmd != rest or rest.lstrip().startswith("["):
                return "RUN " + cmd, args
            return "RUN /bin/sh -c " + rest, args
        return "RUN " + rest, args
    if s.startswith("/bin/sh -c "):  # buildah RUN: /bin/sh -c <original>
        orig = s[len("/bin/sh -c "):]
        cmd = norm_run_cmd(orig)
        if orig.lstrip().startswith("[") or cmd.lstrip().startswith("["):
            return "RUN " + norm_run_cmd(cmd), None
        return "RUN /bin/sh -c " + cmd, None
    word = s.split(" ", 1)[0]
    if word.isupper() and word.isalpha():  # BuildKit metadata / COPY / ADD
        return word, None
    return s, None


def config_facts(cfg, created_check=True):
    """Facts of an image config, without the history (history_facts)."""
    facts = {}
    c = cfg.get("config") or {}
    for k, v in c.items():
        if not empty(v):
            facts["config." + k] = canon(v)
    for k in ("architecture", "os", "variant", "os.version", "author"):
        v = cfg.get(k)
        if not empty(v):
            facts["image." + k] = v if isinstance(v, str) else canon(v)
    if created_check:
        cr = cfg.get("created")
        if cr is None:
            facts["image.created"] = "absent"
        else:
            try:
                t = cr.replace("Z", "+00:00")
                # Python 3.11 accepts RFC 3339 with up to 6 fraction digits
                t = re.sub(r"(\.\d{6})\d+", r"\1", t)
                datetime.datetime.fromisoformat(t)
                facts["image.created"] = "present"
            except (ValueError, AttributeError):
                facts["image.created"] = "invalid: %r" % (cr,)
    diff_ids = (cfg.get("rootfs") or {}).get("diff_ids") or []
    facts["layers: count"] = str(len(diff_ids))
    return facts


def norm_history(cfg):
    """[(normalised created_by, empty_layer, build-args)] of a config."""
    out = []
    for h in (cfg or {}).get("history") or []:
        cb, args = norm_created_by(h.get("created_by"))
        out.append((cb, bool(h.get("empty_layer")), args))
    return out


def align_history(ha, hb):
    """Pairs (ia or None, ib or None) aligning two normalised histories on
    their created_by (difflib), so that a step one side records and the
    other does not (buildah records ONBUILD, BuildKit does not) does not
    shift every later entry.  Unequal runs are paired up in order."""
    import difflib
    sm = difflib.SequenceMatcher(a=[h[0] for h in ha], b=[h[0] for h in hb],
                                 autojunk=False)
    pairs = []
    for op, a0, a1, b0, b1 in sm.get_opcodes():
        if op == "equal":
            pairs += list(zip(range(a0, a1), range(b0, b1)))
            continue
        n = min(a1 - a0, b1 - b0)
        pairs += list(zip(range(a0, a0 + n), range(b0, b0 + n)))
        pairs += [(i, None) for i in range(a0 + n, a1)]
        pairs += [(None, j) for j in range(b0 + n, b1)]
    return pairs


def history_keys(pairs):
    """{('a', ia): key, ('b', ib): key}: entries are named by side B's index
    (history[I]); entries only side A has are history[aI]."""
    keys = {}
    for ia, ib in pairs:
        k = "history[%d]" % ib if ib is not None else "history[a%d]" % ia
        if ia is not None:
            keys[("a", ia)] = k
        if ib is not None:
            keys[("b", ib)] = k
    return keys


def history_facts(hist, keys, side):
    facts = {}
    for i, (cb, el, args) in enumerate(hist):
        k = keys[(side, i)]
        facts[k] = cb
        facts[k + ": empty_layer"] = "true" if el else "false"
        if args:
            facts[k + ": build-args"] = " ".join(args)
    return facts


# ---- layer model ----------------------------------------------------------------


def tar_path(name):
    n = name
    while n.startswith("./"):
        n = n[2:]
    n = n.lstrip("/").rstrip("/")
    if n in ("", "."):
        return None
    return b"/" + os.fsencode(n)


def parent(p):
    return p.rsplit(b"/", 1)[0]


def layer_effects(layout):
    """[(diff_id, {path: summary or 'deleted'})] for each layer in order."""
    state = {}
    out = []
    diff_ids = (layout.config.get("rootfs") or {}).get("diff_ids") or []
    for li, desc in enumerate(layout.layers):
        before = dict(state)
        carried = set()
        with layout.open_layer(desc) as f:
            tf = tarfile.open(fileobj=f, mode="r|*")
            members = []
            for ti in tf:
                p = tar_path(ti.name)
                if p is None:
                    continue
                sha = None
                if ti.isreg():
                    h = hashlib.sha256()
                    fo = tf.extractfile(ti)
                    while True:
                        b = fo.read(1 << 20)
                        if not b:
                            break
                        h.update(b)
                    sha = h.hexdigest()
                members.append((p, ti, sha))
            tf.close()
        # 1. whiteouts and opaque markers apply to the lower layers
        for p, ti, _ in members:
            base = p.rsplit(b"/", 1)[1]
            if base == b".wh..wh..opq":
                d = parent(p)
                pre = d + b"/"
                for q in [q for q in state if q.startswith(pre)]:
                    del state[q]
            elif base.startswith(b".wh."):
                q = parent(p) + b"/" + base[4:]
                pre = q + b"/"
                for r in [r for r in state if r == q or r.startswith(pre)]:
                    del state[r]
        # 2. the entries
        for p, ti, sha in members:
            base = p.rsplit(b"/", 1)[1]
            if base.startswith(b".wh."):
                continue
            # implicit parents
            d = parent(p)
            missing = []
            while d and d not in state:
                missing.append(d)
                d = parent(d)
            for d in reversed(missing):
                state[d] = Entry("dir", 0o755, 0, 0)
            xattrs = {}
            for k, v in (ti.pax_headers or {}).items():
                if k.startswith("SCHILY.xattr."):
                    xattrs[k[len("SCHILY.xattr."):]] = v.encode(
                        "utf-8", "surrogateescape")
            mode = ti.mode & 0o7777
            if ti.islnk():
                tgt = tar_path(ti.linkname)
                src = state.get(tgt)
                if src is None:
                    e = Entry("file", mode, ti.uid, ti.gid, sha256="?" * 64)
                else:
                    e = Entry(src.type, src.mode, src.uid, src.gid, src.sha256,
                              src.size, src.target, src.rdev, dict(src.xattrs))
            elif ti.isreg():
                e = Entry("file", mode, ti.uid, ti.gid, sha, ti.size,
                          xattrs=xattrs)
            elif ti.isdir():
                e = Entry("dir", mode, ti.uid, ti.gid, xattrs=xattrs)
            elif ti.issym():
                e = Entry("symlink", mode, ti.uid, ti.gid,
                          target=os.fsencode(ti.linkname), xattrs=xattrs)
            elif ti.ischr() or ti.isblk():
                e = Entry("char" if ti.ischr() else "block", mode, ti.uid,
                          ti.gid, rdev=(ti.devmajor, ti.devminor),
                          xattrs=xattrs)
            elif ti.isfifo():
                e = Entry("fifo", mode, ti.uid, ti.gid, xattrs=xattrs)
            else:
                continue
            old = state.get(p)
            if old is not None and old.type == "dir" and e.type != "dir":
                pre = p + b"/"
                for q in [q for q in state if q.startswith(pre)]:
                    del state[q]
            state[p] = e
            if e.type != "dir":
                carried.add(p)
        eff = {}
        for p in before:
            if p not in state and parent(p) in state or \
                    (p not in state and parent(p) == b""):
                eff[p] = "deleted"
        for p, e in state.items():
            o = before.get(p)
            if o is None or p in carried or o.attrs() != e.attrs():
                eff[p] = e
        out.append((diff_ids[li] if li < len(diff_ids) else desc["digest"],
                    eff))
    return out


def effect_value(v):
    return v if isinstance(v, str) else v.summary()


def effect_facts(layout, hist, keys, side, skip_layers):
    """{ 'history[I] /PATH': value } keyed by the owning history entry."""
    effects = layer_effects(layout)
    owners = [i for i, h in enumerate(hist) if not h[1]]
    facts = {}
    raw = {}
    for k, (_, eff) in enumerate(effects):
        if k < skip_layers:
            continue
        owner = keys[(side, owners[k])] if k < len(owners) else \
            "layer[%d]" % k
        for p, v in eff.items():
            key = "%s %s" % (owner, esc_path(p))
            facts[key] = effect_value(v)
            raw[key] = (p, v)
    return facts, raw


def common_base_layers(la, lb):
    da = (la.config.get("rootfs") or {}).get("diff_ids") or []
    db = (lb.config.get("rootfs") or {}).get("diff_ids") or []
    n = 0
    while n < len(da) and n < len(db) and da[n] == db[n]:
        n += 1
    return n


def layout_consistency(layout):
    cfg = layout.config
    diff_ids = (cfg.get("rootfs") or {}).get("diff_ids") or []
    hist = cfg.get("history") or []
    nonempty = sum(1 for h in hist if not h.get("empty_layer"))
    n = len(layout.layers)
    if n == len(diff_ids) and (not hist or nonempty == n):
        return "yes"
    return "no: %d manifest layers, %d diff_ids, %d non-empty history" % (
        n, len(diff_ids), nonempty)


# ---- accept / expect files ------------------------------------------------------------


def read_kv(path):
    out = {}
    with open(path, encoding="utf-8") as f:
        for ln, line in enumerate(f, 1):
            s = line.rstrip("\n")
            if not s.strip() or s.lstrip().startswith("#"):
                continue
            # a trailing "  # comment" (two spaces or a tab before #)
            s = re.sub(r"(\s{2,}|\t)#.*$", "", s)
            if " = " not in s:
                raise SystemExit("imgdiff: %s:%d: expected KEY = VALUE" %
                                 (path, ln))
            k, v = s.split(" = ", 1)
            out[k.strip()] = v.strip()
    return out


def read_expect_tree(path):
    """{display path: {attr: value}} ({} attr dict = absent)."""
    out = {}
    with open(path, encoding="utf-8") as f:
        for ln, line in enumerate(f, 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            tok = shlex.split(line)
            p = tok[0]
            if len(tok) == 2 and tok[1] == "absent":
                out[p] = {"type": "absent"}
                continue
            if len(tok) < 4:
                raise SystemExit("imgdiff: %s:%d: PATH TYPE MODE UID:GID ..."
                                 % (path, ln))
            a = {"type": tok[1], "mode": tok[2], "owner": tok[3]}
            i = 4
            while i < len(tok):
                t = tok[i]
                if t.startswith("text="):
                    raw = codecs.decode(t[5:], "unicode_escape")
                    a["sha256"] = hashlib.sha256(
                        raw.encode("latin-1")).hexdigest()
                elif t.startswith("utf8="):
                    a["sha256"] = hashlib.sha256(
                        t[5:].encode("utf-8")).hexdigest()
                elif t.startswith("sha256="):
                    a["sha256"] = t[7:]
                elif t == "->":
                    i += 1
                    a["target"] = tok[i]
                elif t.startswith("rdev="):
                    a["rdev"] = t[5:]
                elif t.startswith("links="):
                    a["links"] = " ".join(sorted(t[6:].split(",")))
                elif t.startswith("xattr:"):
                    n, _, v = t[6:].partition("=")
                    a["xattr " + n] = v
                else:
                    raise SystemExit("imgdiff: %s:%d: unknown field %r" %
                                     (path, ln, t))
                i += 1
            out[p] = a
    return out


# ---- main ---------------------------------------------------------------------------


def rootfs_of(b):
    r = os.path.join(b, "rootfs")
    return r if os.path.isdir(r) else b


def facts_for_side(bundle, layout_spec, config_path):
    entries = read_tree(rootfs_of(bundle))
    layout = Layout(layout_spec) if layout_spec else None
    if config_path:
        cfg = load_json(config_path)
    elif layout:
        cfg = layout.config
    else:
        cfg = None
    return entries, layout, cfg


def golden(args):
    entries, layout, cfg = facts_for_side(args.images[0], args.layout_b,
                                          args.config_b)
    tf = tree_facts(entries)
    facts = dict(tf)
    if cfg is not None:
        facts.update(config_facts(cfg))
        hb = norm_history(cfg)
        facts.update(history_facts(
            hb, {("b", i): "history[%d]" % i for i in range(len(hb))}, "b"))
    problems = []
    if args.expect_tree:
        for p, attrs in read_expect_tree(args.expect_tree).items():
            if attrs.get("type") == "absent":
                got = facts.get(p + ": type", "absent")
                if got != "absent":
                    problems.append("%s: type %s (%s) != absent (expected)" %
                                    (p, got, args.name_b))
                continue
            if (p + ": type") not in facts:
                problems.append("%s: type absent (%s) != %s (expected)" %
                                (p, args.name_b, attrs["type"]))
                continue
            for a, v in attrs.items():
                got = facts.get("%s: %s" % (p, a), "absent")
                if got != v:
                    problems.append("%s: %s %s (%s) != %s (expected)" %
                                    (p, a, got, args.name_b, v))
    if args.expect:
        for k, v in read_kv(args.expect).items():
            got = facts.get(k, "absent")
            if got != v:
                problems.append("%s: %s (%s) != %s (expected)" %
                                (k, got, args.name_b, v))
    for p in problems:
        print(p)
    if problems:
        print("%d difference(s) from the expectation" % len(problems))
        return 1
    print("as expected: %d tree entries" % len(entries))
    return 0


def differential(args):
    ea, la, ca = facts_for_side(args.images[0], args.layout_a, args.config_a)
    eb, lb, cb = facts_for_side(args.images[1], args.layout_b, args.config_b)
    na, nb = args.name_a, args.name_b

    # buildah's mount stubs (see the docstring)
    dropped_stubs = []
    if args.stubs_a:
        for s in sorted(STUBS):
            sb = os.fsencode(s)
            if sb in ea and sb not in eb and is_empty_stub(sb, ea):
                del ea[sb]
                dropped_stubs.append(s)

    fa, fb = tree_facts(ea), tree_facts(eb)
    # a path absent on one side: only its type is compared (the other side's
    # attributes are shown with it)
    detail = {}
    popped = {"a": {}, "b": {}}  # the attributes not compared, for --accept
    for x, y, fx, fy, side in ((ea, eb, fa, fb, "a"), (eb, ea, fb, fa, "b")):
        for p in x:
            if p not in y:
                ps = esc_path(p)
                fy[ps + ": type"] = "absent"
                for a in [a for a, _ in x[p].attrs() if a != "type"] + \
                        ["links"]:
                    k = "%s: %s" % (ps, a)
                    if k in fx:
                        popped[side][k] = fx.pop(k)
                detail[ps + ": type"] = x[p].summary().split(" ", 1)[1]

    if ca is not None and cb is not None:
        fa.update(config_facts(ca))
        fb.update(config_facts(cb))
    hist_a, hist_b = norm_history(ca), norm_history(cb)
    hkeys = history_keys(align_history(hist_a, hist_b))
    fa.update(history_facts(hist_a, hkeys, "a"))
    fb.update(history_facts(hist_b, hkeys, "b"))
    if la is not None and lb is not None:
        fa["layers: consistent"] = layout_consistency(la)
        fb["layers: consistent"] = layout_consistency(lb)
        skip = common_base_layers(la, lb)
        xa, rawa = effect_facts(la, hist_a, hkeys, "a", skip)
        xb, rawb = effect_facts(lb, hist_b, hkeys, "b", skip)
        if args.stubs_a:
            for k, (p, v) in list(rawa.items()):
                if esc_path(p) in STUBS and k not in xb and \
                        not isinstance(v, str) and \
                        (v.type == "dir" or (v.type == "file" and v.size == 0)):
                    del xa[k]
        fa.update(xa)
        fb.update(xb)

    accept = read_kv(args.accept) if args.accept else {}

    keys = sorted(set(fa) | set(fb))
    diffs, notes, failed_accepts = [], [], []

    def split_key(k):
        """(group, path) of a tree type key or a layer effect key, else None:
        the keys whose absence on one side covers the paths below."""
        if k.startswith("/") and k.endswith(": type"):
            return "", k[: -len(": type")]
        m = re.match(r"^((?:history|layer)\[a?\d+\]) (/.*)$", k)
        if m:
            return m.group(1), m.group(2)
        return None

    def ancestors(path):
        parts = path.split("/")
        return ["/".join(parts[:i]) for i in range(2, len(parts))]

    # paths one side lacks (per group), to show only the top-most of them
    lacks = {"a": {}, "b": {}}
    for k in keys:
        sk = split_key(k)
        if sk is None or k in accept:
            continue
        va, vb = fa.get(k, "absent"), fb.get(k, "absent")
        if va == "absent" and vb != "absent":
            lacks["a"].setdefault(sk[0], set()).add(sk[1])
        elif vb == "absent" and va != "absent":
            lacks["b"].setdefault(sk[0], set()).add(sk[1])
    accepted_absent = {}
    for k, v in accept.items():
        sk = split_key(k)
        if sk is not None and v == "absent":
            accepted_absent.setdefault(sk[0], set()).add(sk[1])

    # accepted "K = absent" also covers K's sub-keys ("history[a3]: ...")
    absent_groups = [k for k, v in accept.items() if v == "absent"]

    def value_matches(got, want):
        if "*" not in want:
            return got == want
        return re.fullmatch(".*".join(re.escape(w) for w in want.split("*")),
                            got) is not None

    # accepted keys side B has among the attributes not compared
    for k in accept:
        if k not in fb and k in popped["b"]:
            fb[k] = popped["b"][k]
            if k not in fa:
                fa[k] = popped["a"].get(k, "absent")
    keys = sorted(set(fa) | set(fb) | set(accept))

    hidden = {}
    for k in keys:
        va, vb = fa.get(k, "absent"), fb.get(k, "absent")
        if k in accept:
            if not value_matches(vb, accept[k]):
                failed_accepts.append("%s: %s (%s) != %s (expected)" %
                                      (k, vb, nb, accept[k]))
            elif value_matches(va, accept[k]):
                notes.append("accepted difference not seen: %s = %s" %
                             (k, accept[k]))
            continue
        if va == vb:
            continue
        if vb == "absent" and any(k.startswith(g + ": ") or
                                  k.startswith(g + " ")
                                  for g in absent_groups):
            continue
        sk = split_key(k)
        if sk is not None:
            g, p = sk
            anc = ancestors(p)
            # below an accepted "absent": covered when B lacks it too
            if vb == "absent" and any(
                    a in accepted_absent.get(g, ()) for a in anc):
                continue
            # below a path the same side lacks: counted, not repeated
            side = "a" if va == "absent" else "b" if vb == "absent" else None
            if side is not None:
                top = next((a for a in anc if a in lacks[side].get(g, ())),
                           None)
                if top is not None:
                    tk = (g + " " + top) if g else (top + ": type")
                    hidden[tk] = hidden.get(tk, 0) + 1
                    continue
        diffs.append((k, va, vb))

    lines = []
    attr_order = {"type": 0, "mode": 1, "owner": 2, "sha256": 3, "target": 4,
                  "rdev": 5, "links": 7}

    def sort_key(d):
        k = d[0]
        if k.startswith("/") and ": " in k:
            p, a = k.rsplit(": ", 1)
            return (0, p, attr_order.get(a, 6), a)
        return (1, k, 0, "")

    diffs.sort(key=sort_key)
    for k, va, vb in diffs:
        extra = ""
        if k in hidden:
            extra = " (and %d entries below)" % hidden[k]
        if k in detail:
            if va != "absent":
                va = "%s [%s]" % (va, detail[k])
            if vb != "absent":
                vb = "%s [%s]" % (vb, detail[k])
        if ": " in k and not k.startswith(("history[", "layer[", "layers:")):
            p, a = k.rsplit(": ", 1)
            lines.append("%s: %s %s (%s) != %s (%s)%s" % (p, a, va, na, vb, nb,
                                                        extra))
        else:
            lines.append("%s: %s (%s) != %s (%s)%s" % (k, va, na, vb, nb,
                                                     extra))
    lines += failed_accepts
    # legend: what the history entries named above are
    refs = sorted({m.group(1) for ln in lines
                   for m in [re.match(r"history\[(a?\d+)\]", ln)] if m},
                  key=lambda x: (x.startswith("a"), int(x.lstrip("a"))))
    for line in lines:
        print(line)
    if refs and lines:
        for i in refs:
            a = fa.get("history[%s]" % i, "absent")
            b = fb.get("history[%s]" % i, "absent")
            if a == b:
                print("  (history[%s] is %s)" % (i, a))
            else:
                print("  (history[%s] is %s (%s) / %s (%s))" % (i, a, na, b,
                                                               nb))
    for n in notes:
        print("note: " + n)
    if dropped_stubs:
        print("note: ignored %s's empty mount stubs: %s" %
              (na, " ".join(dropped_stubs)))
    if lines:
        print("%d difference(s) between %s and %s" % (len(lines), na, nb))
        return 1
    print("images agree: %d tree entries, %d facts compared%s" % (
        len(eb), len(keys),
        ", %d accepted difference(s)" % len(accept) if accept else ""))
    return 0


def main(argv):
    ap = argparse.ArgumentParser(
        description="compare two container images (see the module docstring)")
    ap.add_argument("images", nargs="+", metavar="BUNDLE")
    ap.add_argument("--layout-a")
    ap.add_argument("--layout-b")
    ap.add_argument("--config-a")
    ap.add_argument("--config-b")
    ap.add_argument("--accept")
    ap.add_argument("--name-a", default="buildah")
    ap.add_argument("--name-b", default="cairn")
    ap.add_argument("--stubs-a", action="store_true")
    ap.add_argument("--expect-tree")
    ap.add_argument("--expect")
    args = ap.parse_args(argv)
    if len(args.images) == 1:
        if not (args.expect_tree or args.expect):
            ap.error("one image needs --expect-tree and/or --expect")
        if args.layout_a and not args.layout_b:
            args.layout_b, args.config_b = args.layout_a, args.config_a
        return golden(args)
    if len(args.images) != 2:
        ap.error("one or two images")
    return differential(args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

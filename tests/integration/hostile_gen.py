#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""tests/integration/hostile_gen.py: hostile archives for hostile.sh.

usage: hostile_gen.py OUTDIR SENTINEL

Writes one input per case into OUTDIR and prints a table, one line per case:

    NAME<TAB>VERB<TAB>PATH<TAB>ENTRY

VERB is "import" (a root filesystem tarball for `cairn import`) or "load"
(an OCI layout directory/archive or a Docker archive for `cairn load -i`);
ENTRY is the string the error message must contain besides the file name
("-" when only the file can be named; "a|b" when either will do).  SENTINEL is an absolute path that
must never come into existence.  Also writes good.tar (a valid rootfs) and
good-oci/ (a valid OCI layout) as controls.
"""
import gzip
import hashlib
import io
import json
import os
import random
import sys
import tarfile

OUT, SENT = sys.argv[1], sys.argv[2]
os.makedirs(OUT, exist_ok=True)
rows = []
rnd = random.Random(20240601)


def case(name, verb, path, entry="-"):
    rows.append("%s\t%s\t%s\t%s" % (name, verb, path, entry))


def ti(name, type_=tarfile.REGTYPE, size=0, linkname="", mode=0o644):
    t = tarfile.TarInfo(name)
    t.type = type_
    t.size = size
    t.linkname = linkname
    t.mode = mode
    t.mtime = 1600000000
    t.uid = t.gid = 0
    return t


def tar_bytes(members, fmt=tarfile.PAX_FORMAT, end=True):
    """members: list of (TarInfo, data-bytes or None).  end=False: without
    the end-of-archive blocks (to append hand-made headers)."""
    bio = io.BytesIO()
    tf = tarfile.open(fileobj=bio, mode="w", format=fmt)
    for t, data in members:
        if data is not None:
            t.size = len(data)
            tf.addfile(t, io.BytesIO(data))
        else:
            tf.addfile(t)
    body = bio.getvalue()
    tf.close()
    return bio.getvalue() if end else body


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)
    return path


def basic():
    return [
        (ti("etc/", tarfile.DIRTYPE, mode=0o755), None),
        (ti("etc/hostname"), b"cairn\n"),
    ]


# ---- root filesystem tarballs (cairn import) --------------------------------

p = os.path.join(OUT, "good.tar")
write(p, tar_bytes(basic()))

def imp(name, members, entry, fmt=tarfile.PAX_FORMAT):
    p = os.path.join(OUT, name + ".tar")
    write(p, tar_bytes(basic() + members, fmt))
    case(name, "import", p, entry)

imp("dotdot", [(ti("../escape"), b"escaped\n")], "../escape")
imp("dotdot-dir", [(ti("../escape-dir", tarfile.DIRTYPE, mode=0o755), None)], "../escape-dir")
imp("absolute", [(ti(SENT + "/abs"), b"abs\n")], SENT + "/abs")
imp("dotdot-middle", [(ti("a/", tarfile.DIRTYPE, mode=0o755), None), (ti("a/../../x"), b"x\n")], "a/../../x")
imp("hardlink-absolute", [(ti("h", tarfile.LNKTYPE, linkname="/etc/passwd"), None)], "h")
imp("hardlink-dotdot", [(ti("h", tarfile.LNKTYPE, linkname="../../../../etc/passwd"), None)], "h")
imp("hardlink-missing", [(ti("h", tarfile.LNKTYPE, linkname="not/in/archive"), None)], "h")
imp("hardlink-forward", [(ti("h", tarfile.LNKTYPE, linkname="later"), None), (ti("later"), b"later\n")], "h")
imp("symlink-abs-write", [(ti("l", tarfile.SYMTYPE, linkname=SENT), None), (ti("l/pwned"), b"pwned\n")], "l/pwned")
imp("symlink-rel-write", [(ti("l", tarfile.SYMTYPE, linkname="../../../../.." + SENT), None),
                          (ti("l/pwned"), b"pwned\n")], "l/pwned")
imp("symlink-dir-write", [(ti("etc/l", tarfile.SYMTYPE, linkname=SENT), None),
                          (ti("etc/l/sub/", tarfile.DIRTYPE, mode=0o755), None)], "etc/l/sub")
imp("hardlink-to-symlink-write", [(ti("l", tarfile.SYMTYPE, linkname=SENT), None),
                                  (ti("h", tarfile.LNKTYPE, linkname="l"), None),
                                  (ti("h/pwned"), b"pwned\n")], "h/pwned")
imp("duplicate", [(ti("dup"), b"one\n"), (ti("dup"), b"two\n")], "dup")
imp("duplicate-type", [(ti("twice", tarfile.DIRTYPE, mode=0o755), None), (ti("twice"), b"file\n")], "twice")

# absurd sizes: 8 GiB declared (ustar/GNU header), a few bytes present
def absurd(name, size, fmt):
    t = ti("big")
    t.size = size
    if fmt == tarfile.PAX_FORMAT:
        hdr = t.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
    else:
        hdr = t.tobuf(fmt, "utf-8", "surrogateescape")
    data = tar_bytes(basic(), end=False)
    data += hdr + b"only a few bytes" + b"\0" * (512 - 16)
    p = write(os.path.join(OUT, name + ".tar"), data)
    case(name, "import", p, "big")

# metadata headers (GNU long name, PAX extended header) declaring 1 GiB:
# must not be buffered in memory
def absurd_meta(name, typeflag):
    t = ti("././@LongLink" if typeflag == tarfile.GNUTYPE_LONGNAME else "PaxHeaders/big", typeflag)
    t.size = 1 << 30
    hdr = t._create_header(t.get_info(), tarfile.USTAR_FORMAT if typeflag == tarfile.XHDTYPE else tarfile.GNU_FORMAT,
                           "utf-8", "surrogateescape")
    data = tar_bytes(basic(), end=False) + hdr + b"a" * 4096 + b"\0" * 1024
    p = write(os.path.join(OUT, name + ".tar"), data)
    case(name, "import", p)

absurd_meta("absurd-gnu-longname", tarfile.GNUTYPE_LONGNAME)
absurd_meta("absurd-pax-header", tarfile.XHDTYPE)
absurd("absurd-size-8g", 8 << 30, tarfile.GNU_FORMAT)
absurd("absurd-size-pax-1e18", 10**18, tarfile.PAX_FORMAT)

# truncated archives
payload = bytes(rnd.getrandbits(8) for _ in range(300000))
full = tar_bytes(basic() + [(ti("data/blob1"), payload), (ti("data/blob2"), payload[::-1])])
write(os.path.join(OUT, "truncated.tar"), full[: len(full) * 3 // 5])
case("truncated-tar", "import", os.path.join(OUT, "truncated.tar"), "data/blob")
gz = gzip.compress(full, mtime=0)
write(os.path.join(OUT, "truncated.tar.gz"), gz[: len(gz) * 3 // 5])
case("truncated-gzip", "import", os.path.join(OUT, "truncated.tar.gz"))
# a corrupt gzip stream (bytes flipped in the middle, CRC cannot match)
bad = bytearray(gz)
for i in range(len(bad) // 2, len(bad) // 2 + 64):
    bad[i] ^= 0x5A
write(os.path.join(OUT, "corrupt.tar.gz"), bytes(bad))
case("corrupt-gzip", "import", os.path.join(OUT, "corrupt.tar.gz"))

# a header with a broken checksum after a valid entry
t = tar_bytes(basic() + [(ti("after-bad-checksum"), b"x")])
b = bytearray(t)
off = 0
# find the third header (etc/, etc/hostname, after-bad-checksum) and break it
hdrs = []
while off < len(b) and b[off:off + 512] != b"\0" * 512:
    hdrs.append(off)
    name = b[off:off + 100].rstrip(b"\0")
    size = int(b[off + 124:off + 136].rstrip(b"\0 ") or b"0", 8)
    off += 512 + ((size + 511) // 512) * 512
last = hdrs[-1]
b[last + 148:last + 156] = b"0000000\0"
write(os.path.join(OUT, "bad-checksum.tar"), bytes(b))
case("bad-checksum", "import", os.path.join(OUT, "bad-checksum.tar"))

write(os.path.join(OUT, "garbage.bin"), bytes(rnd.getrandbits(8) for _ in range(65536)))
case("garbage-import", "import", os.path.join(OUT, "garbage.bin"))
case("garbage-load", "load", os.path.join(OUT, "garbage.bin"))

# ---- OCI layouts and Docker archives (cairn load) ------------------------------

def sha(b):
    return hashlib.sha256(b).hexdigest()


def oci_layout(dirname, layer_members, *, mutate=None, ref="v1"):
    d = os.path.join(OUT, dirname)
    os.makedirs(os.path.join(d, "blobs", "sha256"), exist_ok=True)
    blobs = {}

    def put(b):
        h = sha(b)
        blobs[h] = b
        return h

    layer = tar_bytes(layer_members)
    lgz = gzip.compress(layer, mtime=0)
    lh = put(lgz)
    cfg = json.dumps({
        "architecture": "amd64", "os": "linux", "config": {},
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + sha(layer)]},
        "history": [{"created_by": "hostile_gen"}],
    }, sort_keys=True).encode()
    ch = put(cfg)
    man = json.dumps({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": "sha256:" + ch, "size": len(cfg)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": "sha256:" + lh, "size": len(lgz)}],
    }, sort_keys=True).encode()
    mh = put(man)
    index = {
        "schemaVersion": 2,
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "digest": "sha256:" + mh, "size": len(man),
                       "annotations": {"org.opencontainers.image.ref.name": ref,
                                       "io.containerd.image.name": "example.com/hostile:" + ref}}],
    }
    ctx = {"dir": d, "blobs": blobs, "layer": lh, "config": ch, "manifest": mh, "index": index}
    if mutate:
        mutate(ctx)
    for h, b in ctx["blobs"].items():
        write(os.path.join(d, "blobs", "sha256", h), b)
    write(os.path.join(d, "oci-layout"), b'{"imageLayoutVersion":"1.0.0"}')
    if "index_bytes" in ctx:
        write(os.path.join(d, "index.json"), ctx["index_bytes"])
    else:
        write(os.path.join(d, "index.json"), json.dumps(ctx["index"]).encode())
    return ctx


def tar_dir(d, out):
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tf:
        for name in sorted(os.listdir(d)):
            tf.add(os.path.join(d, name), arcname=name)
    return out


oci_layout("good-oci", basic())

def m_badindex(c):
    c["index_bytes"] = b'{"schemaVersion": 2, "manifests": [ {"digest": "sha256:'
ctx = oci_layout("oci-bad-index", basic(), mutate=m_badindex)
case("oci-malformed-index", "load", ctx["dir"], "index.json")
tar_dir(ctx["dir"], os.path.join(OUT, "oci-bad-index.tar"))
case("oci-archive-malformed-index", "load", os.path.join(OUT, "oci-bad-index.tar"), "index.json")

def m_index_wrongtype(c):
    c["index_bytes"] = b'{"schemaVersion": 2, "manifests": {"digest": 42}}'
ctx = oci_layout("oci-index-wrong-types", basic(), mutate=m_index_wrongtype)
case("oci-index-wrong-types", "load", ctx["dir"], "index.json")

def m_missing_layer(c):
    del c["blobs"][c["layer"]]
ctx = oci_layout("oci-missing-layer", basic(), mutate=m_missing_layer)
case("oci-missing-layer-blob", "load", ctx["dir"], ctx["layer"])

def m_missing_config(c):
    del c["blobs"][c["config"]]
ctx = oci_layout("oci-missing-config", basic(), mutate=m_missing_config)
case("oci-missing-config-blob", "load", ctx["dir"], ctx["config"])

def m_bad_digest(c):
    b = bytearray(c["blobs"][c["layer"]])
    b[len(b) // 2] ^= 0xFF
    c["blobs"][c["layer"]] = bytes(b)
ctx = oci_layout("oci-bad-digest", basic(), mutate=m_bad_digest)
case("oci-blob-digest-mismatch", "load", ctx["dir"], ctx["layer"])
tar_dir(ctx["dir"], os.path.join(OUT, "oci-bad-digest.tar"))
case("oci-archive-blob-digest-mismatch", "load", os.path.join(OUT, "oci-bad-digest.tar"), ctx["layer"])

def m_bad_config_digest(c):
    cfg = c["blobs"].pop(c["config"])
    c["blobs"][c["config"]] = cfg.replace(b"amd64", b"arm64")
ctx = oci_layout("oci-config-digest-mismatch", basic(), mutate=m_bad_config_digest)
case("oci-config-digest-mismatch", "load", ctx["dir"], ctx["config"])

def m_manifest_notjson(c):
    bad = b'{"schemaVersion": 2, "config": '
    h = sha(bad)
    c["blobs"][h] = bad
    c["index"]["manifests"][0]["digest"] = "sha256:" + h
    c["index"]["manifests"][0]["size"] = len(bad)
    c["bad_manifest"] = h
ctx = oci_layout("oci-manifest-malformed", basic(), mutate=m_manifest_notjson)
case("oci-malformed-manifest", "load", ctx["dir"], ctx["bad_manifest"])

def m_digest_traversal(c):
    c["index"]["manifests"][0]["digest"] = "sha256:../../../../../../etc/passwd"
ctx = oci_layout("oci-digest-traversal", basic(), mutate=m_digest_traversal)
case("oci-digest-path-traversal", "load", ctx["dir"], "index.json|etc/passwd")

def m_size_mismatch(c):
    c["index"]["manifests"][0]["size"] = 7
ctx = oci_layout("oci-size-mismatch", basic(), mutate=m_size_mismatch)
case("oci-descriptor-size-mismatch", "load", ctx["dir"], ctx["manifest"])

def m_diffid_mismatch(c):
    cfg = json.loads(c["blobs"].pop(c["config"]))
    cfg["rootfs"]["diff_ids"] = ["sha256:" + "0" * 64]
    nb = json.dumps(cfg, sort_keys=True).encode()
    nh = sha(nb)
    c["blobs"][nh] = nb
    man = json.loads(c["blobs"].pop(c["manifest"]))
    man["config"]["digest"] = "sha256:" + nh
    man["config"]["size"] = len(nb)
    mb = json.dumps(man, sort_keys=True).encode()
    mh = sha(mb)
    c["blobs"][mh] = mb
    c["index"]["manifests"][0]["digest"] = "sha256:" + mh
    c["index"]["manifests"][0]["size"] = len(mb)
ctx = oci_layout("oci-diffid-mismatch", basic(), mutate=m_diffid_mismatch)
case("oci-layer-diffid-mismatch", "load", ctx["dir"], ctx["layer"] + "|sha256:" + "0" * 64)

ctx = oci_layout("oci-layer-dotdot", basic() + [(ti("../escape"), b"escaped\n")])
case("oci-layer-dotdot", "load", ctx["dir"], "../escape")
ctx = oci_layout("oci-layer-symlink-write", basic() + [
    (ti("l", tarfile.SYMTYPE, linkname=SENT), None), (ti("l/pwned"), b"pwned\n")])
case("oci-layer-symlink-write", "load", ctx["dir"], "l/pwned")
ctx = oci_layout("oci-layer-absolute", basic() + [(ti(SENT + "/abs"), b"abs\n")])
case("oci-layer-absolute", "load", ctx["dir"], SENT + "/abs")

ctx = oci_layout("oci-layer-whiteout-dotdot", basic() + [(ti("etc/.wh..."), b"")])
case("oci-layer-whiteout-dotdot", "load", ctx["dir"], "etc/.wh...")

# OCI archives with stray members outside the layout
ctx = oci_layout("oci-archive-base", basic())
for nm, member in (("oci-archive-dotdot-member", "../escape"),
                   ("oci-archive-absolute-member", SENT + "/x")):
    p = os.path.join(OUT, nm + ".tar")
    tar_dir(ctx["dir"], p)
    with tarfile.open(p, "a", format=tarfile.PAX_FORMAT) as tf:
        t = ti(member)
        t.size = 4
        tf.addfile(t, io.BytesIO(b"bad\n"))
    case(nm, "load", p, member)


def docker_archive(name, *, manifest_bytes=None, layers_override=None, drop_layer=False,
                   layer_members=None):
    layer = tar_bytes(layer_members or basic())
    lh = sha(layer)
    cfg = json.dumps({
        "architecture": "amd64", "os": "linux", "config": {},
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + lh]},
    }, sort_keys=True).encode()
    ch = sha(cfg)
    man = [{"Config": ch + ".json", "RepoTags": ["example.com/hostile-docker:v1"],
            "Layers": layers_override or [lh + "/layer.tar"]}]
    mb = manifest_bytes if manifest_bytes is not None else json.dumps(man).encode()
    p = os.path.join(OUT, name + ".tar")
    with tarfile.open(p, "w", format=tarfile.PAX_FORMAT) as tf:
        def add(n, b):
            t = ti(n)
            t.size = len(b)
            tf.addfile(t, io.BytesIO(b))
        add(ch + ".json", cfg)
        if not drop_layer:
            add(lh + "/layer.tar", layer)
        add("manifest.json", mb)
    return p, lh, ch

docker_archive("good-docker")
p, lh, ch = docker_archive("docker-bad-manifest", manifest_bytes=b'[{"Config": "x.json", "RepoTags": [')
case("docker-malformed-manifest", "load", p, "manifest.json")
p, lh, ch = docker_archive("docker-manifest-wrong-types", manifest_bytes=b'{"Config": 5}')
case("docker-manifest-wrong-types", "load", p, "manifest.json")
p, lh, ch = docker_archive("docker-missing-layer", drop_layer=True)
case("docker-missing-layer", "load", p, lh)
p, lh, ch = docker_archive("docker-layer-traversal", layers_override=["../../../../etc/passwd"])
case("docker-layer-path-traversal", "load", p, "../../../../etc/passwd")
p, lh, ch = docker_archive("docker-layer-dotdot", layer_members=basic() + [(ti("../escape"), b"x\n")])
case("docker-layer-dotdot", "load", p, "../escape")

# a Docker archive whose layer member is a symlink to a tar on the host
# (with a matching diff_id): following it would import host files
host = os.path.join(OUT, "host-secret.tar")
write(host, tar_bytes([(ti("secret"), b"host secret\n")]))
hb = open(host, "rb").read()
cfg = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                  "rootfs": {"type": "layers", "diff_ids": ["sha256:" + sha(hb)]}}).encode()
p = os.path.join(OUT, "docker-layer-symlink-host.tar")
with tarfile.open(p, "w", format=tarfile.PAX_FORMAT) as tf:
    def add(n, b):
        t = ti(n)
        t.size = len(b)
        tf.addfile(t, io.BytesIO(b))
    add(sha(cfg) + ".json", cfg)
    tf.addfile(ti("evil/layer.tar", tarfile.SYMTYPE, linkname=host))
    add("manifest.json", json.dumps([{"Config": sha(cfg) + ".json",
                                      "RepoTags": ["example.com/hostile-symlink:v1"],
                                      "Layers": ["evil/layer.tar"]}]).encode())
case("docker-layer-symlink-to-host", "load", p, "evil/layer.tar")

print("\n".join(rows))

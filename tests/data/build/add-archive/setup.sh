# Archives for ADD: a tar.gz with owners, modes, a hardlink, a symlink, a
# device node, a fifo and a directory; an uncompressed tar; a .tar.bz2 and a .tar.xz; a file named
# like an archive that is not one (copied as is).
mkdir -p src/top/dir src/other
printf 'in archive\n' > src/top/dir/file
printf 'exec\n' > src/top/run.sh
chmod 0750 src/top/dir
chmod 0700 src/top/run.sh
ln src/top/dir/file src/top/hard
ln -s dir/file src/top/sym
chown -R 1234:5678 src/top/dir
chown 0:50 src/top/run.sh
mknod -m 0640 src/top/null c 1 3
mkfifo -m 0600 src/top/fifo
printf 'other\n' > src/other/o
tar --sort=name --numeric-owner -C src -czf archive.tar.gz top
tar --sort=name --numeric-owner -C src -cf plain-archive.tar other
tar --sort=name --numeric-owner -C src -cjf archive.tar.bz2 other
tar --sort=name --numeric-owner -C src -cJf archive.tar.xz other
printf 'not really gzip\n' > fake.tar.gz
rm -rf src

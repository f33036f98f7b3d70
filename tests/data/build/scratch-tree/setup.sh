# Run in the copied context (git keeps none of this).
t=tree
mkdir -p $t/dir/sub $t/empty $t/nested/empty/deeper $t/modes $t/names $t/links $t/ro
printf 'plain\n' > $t/plain.txt
printf 'sub\n' > $t/dir/sub/file
printf '' > $t/zero-length
head -c 1100000 /dev/urandom > $t/big.bin
printf 'shared\n' > $t/links/one
ln $t/links/one $t/links/two
ln $t/links/one $t/dir/three
printf 'pair\n' > $t/links/p1
ln $t/links/p1 $t/links/p2
ln -s ../plain.txt $t/links/rel
ln -s /data/plain.txt $t/links/abs
ln -s does/not/exist $t/links/dangling
ln -s ../dir $t/links/dirlink
ln -s . $t/links/self
for m in 4755:suid 2755:sgid 1644:sticky 6711:both 0600:private 0000:none 0444:ro 0777:all; do
	printf '%s\n' "${m#*:}" > "$t/modes/${m#*:}"
	chmod "${m%%:*}" "$t/modes/${m#*:}"
done
mkdir $t/modes/d0700 $t/modes/d1777 $t/modes/d2775 $t/modes/d0711
chmod 0700 $t/modes/d0700; chmod 1777 $t/modes/d1777; chmod 2775 $t/modes/d2775; chmod 0711 $t/modes/d0711
printf 'inside\n' > $t/ro/inside
chmod 0555 $t/ro
printf 's\n' > "$t/names/with space"
printf 'u\n' > "$t/names/ünïcödé-名前"
printf 'd\n' > "$t/names/-leading-dash"
printf 'h\n' > "$t/names/#hash"
printf 'q\n' > "$t/names/q?mark[x]*"
printf 't\n' > "$t/names/trailing space "
printf 'e\n' > "$t/names/.hidden"
printf 'b\n' > "$t/names/back\\slash"
printf 'c\n' > "$t/names/colon: and = sign"
printf 'x\n' > $t/xattr-file
setfattr -n user.cairn.test -v hello $t/xattr-file 2>/dev/null || true
setfattr -n user.cairn.bin -v 0x00ff10 $t/xattr-file 2>/dev/null || true
setfattr -n user.cairn.dir -v d $t/dir 2>/dev/null || true
chown -R 1234:5678 $t/dir
chown 4321:8765 $t/plain.txt

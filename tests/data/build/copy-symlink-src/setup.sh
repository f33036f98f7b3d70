ln -s real.txt link.txt
ln -s realdir linkdir
mkdir -p withlinks && ln -s ../real.txt withlinks/inner-link && printf 'w\n' > withlinks/w

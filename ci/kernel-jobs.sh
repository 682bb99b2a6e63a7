#!/bin/sh
# Prints one {"kernel": NAME, "arch": ARCH} per kernels.txt entry (the first and sixth field of
# every non-comment line) as a JSON array: the job matrix of ci/matrix.yml, one job per
# (kernel, arch). Names are [A-Za-z0-9._-] and arches x86_64 or aarch64 (the kernels.txt parser
# rejects others), so no JSON escaping is needed. Any field may be written in double quotes,
# and a quoted field may hold blanks (the cmdline), so fields are split the parser's way.
set -eu
awk '
function fields(line,    i, c, inq, f, n) {
	n = 0; f = ""; inq = 0
	for (i = 1; i <= length(line); i++) {
		c = substr(line, i, 1)
		if (c == "\"") { inq = !inq; continue }
		if (!inq && c == "#") break
		if (!inq && (c == " " || c == "\t")) { if (f != "") { field[++n] = f; f = "" } continue }
		f = f c
	}
	if (f != "") field[++n] = f
	return n
}
!/^[[:space:]]*(#|$)/ {
	if (fields($0) < 6) next
	printf "%s{\"kernel\":\"%s\",\"arch\":\"%s\"}", (jobs++ ? "," : "["), field[1], field[6]
}
END { print (jobs ? "]" : "[]") }' "${1:-kernels.txt}"

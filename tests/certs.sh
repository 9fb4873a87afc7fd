#!/usr/bin/env bash
# Generates throwaway certificates for tests with openssl:
#
#   tests/certs.sh DIR
#
#   DIR/ca.pem, ca.key            test CA
#   DIR/server.pem, server.key    signed by ca; CN localhost, SAN
#                                 DNS:localhost, IP:127.0.0.1, IP:::1
#   DIR/client.pem, client.key    signed by ca; CN parley-client
#   DIR/other-ca.pem, other-ca.key  a second, unrelated CA
#   DIR/other-client.pem, .key    signed by other-ca
#   DIR/other-server.pem, .key    signed by other-ca; CN localhost
#
# Keys are P-256 (fast to make); certificates are valid for one day.
# Private keys are mode 0600.
set -euo pipefail
dir=${1:?usage: tests/certs.sh DIR}
mkdir -p "$dir"
cd "$dir"
umask 077

ca() { # name subject
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
		-nodes -keyout "$1.key" -out "$1.pem" -days 1 -subj "$2" \
		-addext basicConstraints=critical,CA:TRUE \
		-addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
}

leaf() { # name ca subject extensions
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$1.key" -out "$1.csr" -subj "$3" 2>/dev/null
	printf '%s\n' "$4" > "$1.ext"
	openssl x509 -req -in "$1.csr" -CA "$2.pem" -CAkey "$2.key" \
		-CAcreateserial -out "$1.pem" -days 1 -extfile "$1.ext" \
		2>/dev/null
	rm -f "$1.csr" "$1.ext"
}

srv='basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1'
cli='basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth'

ca ca "/CN=Parley Test CA"
ca other-ca "/CN=Unrelated Test CA"
leaf server ca "/CN=localhost" "$srv"
leaf client ca "/CN=parley-client" "$cli"
leaf other-server other-ca "/CN=localhost" "$srv"
leaf other-client other-ca "/CN=other-client" "$cli"
chmod 644 ./*.pem

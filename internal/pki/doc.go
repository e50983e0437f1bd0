// Package pki is the hub's certificate authority and the agents'
// credentials.
//
// On first use, LoadOrCreate makes a CA (ECDSA P-256) under the hub's data
// directory, DIR/tls/: ca.pem (the certificate agents trust), ca-key.pem
// (mode 0600), and the hub's own serving certificate hub.pem/hub-key.pem,
// issued for the name ServerName. Later calls load the same files; two
// processes creating them at once end up sharing one CA (files are created
// with no-replace links, the loser loads the winner's).
//
// MintAgent issues a credentials bundle: one PEM file holding the agent's
// client certificate (common name = agent ID), its private key, and the
// CA certificate. LoadBundle reads one back and builds the agent's TLS
// configuration: it presents the client certificate and trusts only that
// CA, for the name ServerName (so the hub is reached by any address).
//
// ServerTLS requires TLS 1.3 and a client certificate chaining to the CA.
// Revocation is a DenyList of agent IDs and certificate serial numbers,
// consulted for every session (the sync handshake reports CodeRevoked) and
// reloadable while the hub runs; Watch reloads a deny file when it changes.
package pki

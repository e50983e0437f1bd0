// Package devices is the device registry: who may connect to an agent's MQTT
// listener, with which credentials, and to which topics each device may
// publish and subscribe. It imports nothing of the agent; the agent's auth
// hook calls it.
//
// # Registry file
//
// A YAML mapping with one key, devices, holding a list of devices:
//
//	devices:
//	  - id: pump-17                 # the MQTT client ID
//	    password-hash: $2a$10$...   # bcrypt (edgelog devices add/passwd write it)
//	    cert-sha256: 9f:86:d0:...   # optional: pin the TLS client certificate
//	    publish: [telemetry/{id}/#, logs/{id}]
//	    subscribe: [commands/{id}/#]
//	    enabled: true               # default true
//	    labels: {model: p200, site: north}
//
// {id} in a filter stands for the device's ID. Filters follow MQTT's rules
// ('#' only as the whole last level, '+' only as a whole level); a filter
// starting with a wildcard does not match topics starting with '$'. IDs may
// not contain '/', '+', '#' or control characters. Every device has a
// password hash, a certificate fingerprint, or both (both must then pass).
//
// Passwords are stored only as bcrypt hashes ($2a$/$2b$/$2y$, as written by
// golang.org/x/crypto/bcrypt or htpasswd -B): bcrypt is salted, tunably slow,
// and needs no parameters beyond the cost embedded in the hash. A value that
// is not a bcrypt hash is an error, so a plain password never becomes a
// credential by accident.
//
// # Contract
//
//   - Load/Parse reject, with a *ParseError naming the line and the key
//     (errors.Is ErrInvalid): unknown keys, duplicate IDs, malformed
//     filters, non-bcrypt hashes, bad fingerprints, YAML aliases, and lists
//     beyond MaxFilters/MaxLabels. Files over MaxFileBytes are refused
//     before parsing (ErrTooLarge).
//   - A Registry is immutable and safe for concurrent use. Authenticate
//     returns exactly one of ErrUnknownDevice, ErrDisabled, ErrCertRequired,
//     ErrBadCert, ErrBadPassword on failure and never logs or keeps the
//     password; a verified password is remembered only as a keyed MAC (with
//     a random per-process key) so reconnects skip bcrypt.
//   - CanPublish allows a topic name matched by one of the device's publish
//     filters; CanSubscribe allows a filter only when one of the device's
//     subscribe filters matches every topic it can match. Disabled and
//     unknown devices may do neither.
//   - NewRegistry builds a registry from Device values with the same checks
//     (for fleets provisioned in memory).
//   - Watch polls the file and hands over a new Registry when the content
//     changes, or an error when the new content is bad (the caller keeps
//     its previous registry).
//   - LoginLimiter locks out client IDs and remote addresses after repeated
//     failures, with bounded memory.
//   - Edits (Document) keep comments and write the file atomically (temp
//     file, fsync, rename, fsync of the directory); a document that would
//     not load is never written.
package devices

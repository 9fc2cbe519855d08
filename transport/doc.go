// Package transport holds what the server needs between the network and
// its handlers: a TLS certificate that is read again when its files
// change (rotation without a restart), and the rules for believing the
// X-Forwarded-For and X-Forwarded-Proto headers of trusted reverse proxies.
package transport

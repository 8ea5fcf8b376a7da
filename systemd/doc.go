// Package systemd holds what runs s3cached under systemd: the unit (s3cached.service), the
// environment file example (s3cached.env.example) and install.sh / uninstall.sh. Its tests
// check the unit with systemd-analyze verify and security, and run the scripts in a
// scratch root (DESTDIR).
package systemd

import _ "embed"

// Unit is s3cached.service.
//
//go:embed s3cached.service
var Unit string

// EnvExample is s3cached.env.example, the documented /etc/s3cache/s3cached.env.
//
//go:embed s3cached.env.example
var EnvExample string

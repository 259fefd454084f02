// Command hankogate is Caddy with the standard modules plus the hanko authentication handler.
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/hankogate/hankogate/caddymodule"
)

func main() {
	caddycmd.Main()
}

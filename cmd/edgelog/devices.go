package main

import "github.com/edgelog/edgelog/internal/cli"

func devicesCommand() cli.Command {
	return unbuilt("devices", "manages a device registry file")
}

package main

import "github.com/edgelog/edgelog/internal/cli"

func hubCommand() cli.Command {
	return unbuilt("hub", "runs a hub broker")
}

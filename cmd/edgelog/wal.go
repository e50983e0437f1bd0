package main

import "github.com/edgelog/edgelog/internal/cli"

func walCommand() cli.Command {
	return unbuilt("wal", "inspects an agent's write-ahead log (dump, verify)")
}

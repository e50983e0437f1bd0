package main

import "github.com/edgelog/edgelog/internal/cli"

func agentCommand() cli.Command {
	return unbuilt("agent", "runs an edge agent")
}

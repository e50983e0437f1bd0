package main

import "github.com/edgelog/edgelog/internal/cli"

func consumeCommand() cli.Command {
	return unbuilt("consume", "prints hub records over the Kafka protocol")
}

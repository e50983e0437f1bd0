// Command edgelog is the single edgelog binary: hub, agent, demo and the
// tools around them. Each subcommand lives in its own file; this file only
// dispatches.
package main

import (
	"context"
	"fmt"
	"os"
	"sort"

	"github.com/edgelog/edgelog/internal/cli"
)

// commands lists every subcommand. Keep it sorted by name.
func commands() []cli.Command {
	cmds := []cli.Command{
		agentCommand(),
		consumeCommand(),
		demoCommand(),
		devicesCommand(),
		hubCommand(),
		walCommand(),
	}
	sort.Slice(cmds, func(i, j int) bool { return cmds[i].Name < cmds[j].Name })
	return cmds
}

func main() {
	os.Exit(run(context.Background(), os.Args[1:], cli.OSEnv()))
}

func run(ctx context.Context, args []string, env *cli.Env) int {
	cmds := commands()
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(env, cmds)
		if len(args) == 0 {
			return cli.ExitUsage
		}
		return cli.ExitOK
	}
	for _, c := range cmds {
		if c.Name == args[0] {
			return c.Run(ctx, args[1:], env)
		}
	}
	fmt.Fprintf(env.Stderr, "edgelog: unknown command %q (see edgelog --help)\n", args[0])
	return cli.ExitUsage
}

func usage(env *cli.Env, cmds []cli.Command) {
	fmt.Fprintln(env.Stderr, "edgelog — a durable, replayable log from edge devices to Kafka consumers")
	fmt.Fprintln(env.Stderr, "\nusage: edgelog COMMAND [flags]   (edgelog COMMAND --help for its flags)")
	fmt.Fprintln(env.Stderr, "\ncommands:")
	for _, c := range cmds {
		fmt.Fprintf(env.Stderr, "  %-10s %s\n", c.Name, c.Summary)
	}
}

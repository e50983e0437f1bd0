package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/edgelog/edgelog/devices"
	"github.com/edgelog/edgelog/internal/cli"
	"golang.org/x/term"
)

// obtainPassword returns a new password for device id: generated, typed at
// a terminal prompt without echo (twice), or the first line of stdin. It is
// never taken from the command line, where it would land in shell history
// and in the process list.
func obtainPassword(env *cli.Env, id string, generate bool) (string, error) {
	if generate {
		return generatedPassword(), nil
	}
	if f, ok := env.Stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return promptPassword(env, int(f.Fd()), id)
	}
	return readPasswordLine(env.Stdin)
}

func promptPassword(env *cli.Env, fd int, id string) (string, error) {
	fmt.Fprintf(env.Stderr, "password for %s: ", id)
	first, err := term.ReadPassword(fd)
	fmt.Fprintln(env.Stderr)
	if err != nil {
		return "", fmt.Errorf("read password: %w", err)
	}
	fmt.Fprintf(env.Stderr, "again: ")
	second, err := term.ReadPassword(fd)
	fmt.Fprintln(env.Stderr)
	if err != nil {
		return "", fmt.Errorf("read password: %w", err)
	}
	if string(first) != string(second) {
		return "", errors.New("the two passwords differ")
	}
	return checkPassword(string(first))
}

// readPasswordLine takes the first line of r (scripts: `printf '%s\n' "$PW" |`).
func readPasswordLine(r io.Reader) (string, error) {
	if r == nil {
		return "", errors.New("no password on stdin (pipe one in, or use --generate-password)")
	}
	line, err := bufio.NewReader(io.LimitReader(r, 4096)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read password from stdin: %w", err)
	}
	return checkPassword(strings.TrimRight(line, "\r\n"))
}

func checkPassword(pw string) (string, error) {
	switch {
	case pw == "":
		return "", errors.New("no password on stdin (pipe one in, or use --generate-password)")
	case len(pw) > devices.MaxPasswordBytes:
		return "", fmt.Errorf("password longer than %d bytes (bcrypt's limit)", devices.MaxPasswordBytes)
	}
	return pw, nil
}

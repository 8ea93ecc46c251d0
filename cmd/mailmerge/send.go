package main

import "io"

func cmdSend(args []string, stdin io.Reader, ui *ui) int {
	ui.errorf("send is not built yet")
	return exitUsage
}

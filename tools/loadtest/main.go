// Command loadtest drives the workloads of docs/performance.md against any
// SCIM server over HTTP, so that timecamp-scim and a peer server are
// measured by the same client on the same machine. It is independent of
// the server's code: plain net/http and encoding/json, nothing imported
// from timecamp-scim.
//
//	loadtest run     -url http://127.0.0.1:8080/scim/v2 -token T -users 10000
//	loadtest check   -url http://127.0.0.1:8080/scim/v2 -token T
//	loadtest compare -rounds 3 -users 1000,10000
//
// "run" runs the workloads once against a server that holds no users yet;
// "check" asks a server the questions on which the peers answer wrongly;
// "compare" builds timecamp-scim (the repository this tool sits in) and
// the elimity-com/scim peer (tools/peers/elimity), and for each round and
// size starts each on a fresh data folder, one after the other, runs the
// workloads against it and stops it, then prints both sides and their
// ratio.
package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "run":
		err = runCmd(os.Args[2:])
	case "check":
		err = checkCmd(os.Args[2:])
	case "compare":
		err = compareCmd(os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadtest:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: loadtest run|check|compare [flags] (loadtest CMD -h for the flags)")
	os.Exit(2)
}

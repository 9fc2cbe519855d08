// Command buildferretdb builds the FerretDB program the MongoDB store's
// tests run (see storetest.FerretDBBinary), if it is not built yet, and
// prints its path. .ci/run calls it before the tests, so that a cold
// build (a few minutes) does not count against any one test's time.
package main

import (
	"fmt"
	"os"

	"github.com/timecamp/timecamp-scim/store/storetest"
)

func main() {
	bin, err := storetest.FerretDBBinary()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(bin)
}

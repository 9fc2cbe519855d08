package directory

import (
	"testing"

	"github.com/timecamp/timecamp-scim/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

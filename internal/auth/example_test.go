package auth_test

import (
	"fmt"

	"github.com/phoenix/platform/internal/auth"
)

func ExampleAuthorizer_Authorize() {
	az, err := auth.NewAuthorizer()
	if err != nil {
		panic(err)
	}
	viewer := &auth.Principal{TenantID: "t1", KeyID: "k1", Role: "viewer", Actor: auth.KeyActor("k1")}
	fmt.Println(az.Authorize(viewer, auth.ResourceExperiments, auth.ActionRead))
	fmt.Println(az.Authorize(viewer, auth.ResourceAPIKeys, auth.ActionRead))
	// Output:
	// <nil>
	// FORBIDDEN: role "viewer" may not read apikeys
}

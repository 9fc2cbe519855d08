package e2e

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// Issue 6: the requests Microsoft Entra ID's provisioning service sends,
// replayed in the order it sends them, against the built server.
//
// The bodies in testdata/entra follow Microsoft's documentation ("Tutorial:
// Develop and plan provisioning for a SCIM endpoint in Microsoft Entra ID",
// "Known issues and resolutions with SCIM 2.0 protocol compliance",
// "Customize attribute mappings": app roles) and what its SCIM validator
// sends: capitalised ops, booleans as strings, path-less values with dotted
// and URN keys, filtered paths, members as value arrays with "$ref": null,
// the manager as a plain id, and the same requests in the form the
// aadOptscim062020 flag gives them.
func TestEntraID(t *testing.T) {
	t.Parallel()
	s := startIdPServer(t)
	base := s.Client.Base
	entra := idpClient{c: s.Client, contentType: "application/scim+json", accept: "application/scim+json"}
	// Group requests go out with plain JSON, as Microsoft's own test
	// collection sends them.
	entraJSON := idpClient{c: s.Client, contentType: "application/json", accept: "application/json"}
	step := flow(t)

	users := func(filter string, more ...string) string { return filterPath("/Users", filter, more...) }
	groups := func(filter string) string {
		return filterPath("/Groups", filter, "excludedAttributes", "members")
	}
	byUserName := func(userName string) string { return users(`userName eq "` + userName + `"`) }

	// Ids the flow creates.
	var megan, adele, lee, nestor, alex, diego, grady string

	step("test connection queries a user and a group that do not exist", func(t *testing.T) {
		const random = "6f1c3f4e-0d3b-4b8f-9a3e-2c1d5e7f9a0b"
		expectEmptyList(t, entra.get(t, byUserName(random)))
		expectEmptyList(t, entra.get(t, groups(`displayName eq "`+random+`"`)))
		// With the aadOptscim062020 flag in the tenant URL, the flag
		// arrives as a query parameter of its own.
		expectEmptyList(t, entra.get(t, "/Users?aadOptscim062020&filter="+url.QueryEscape(`userName eq "`+random+`"`)))
	})

	step("schema discovery", func(t *testing.T) {
		r := entra.get(t, "/ServiceProviderConfig").Expect(t, http.StatusOK)
		if r.At("patch.supported") != true || r.At("filter.supported") != true {
			t.Fatalf("ServiceProviderConfig: %s", r.Raw)
		}
		r = entra.get(t, "/ResourceTypes").Expect(t, http.StatusOK)
		exts := map[string]bool{}
		for _, rt := range resources(t, r) {
			if rt["name"] != "User" {
				continue
			}
			list, _ := rt["schemaExtensions"].([]any)
			for _, el := range list {
				m, _ := el.(obj)
				exts[fmt.Sprint(m["schema"])] = true
			}
		}
		if !exts[enterpriseURN] || !exts[timecampUserURN] {
			t.Fatalf("User schema extensions %v", exts)
		}
		r = entra.get(t, "/Schemas").Expect(t, http.StatusOK)
		expectListShape(t, r)
		// The TimeCamp attributes Entra's custom mappings target are there,
		// as simple attributes of the extension.
		attrs := map[string]string{}
		for _, sch := range resources(t, r) {
			if sch["id"] != timecampUserURN {
				continue
			}
			list, _ := sch["attributes"].([]any)
			for _, el := range list {
				m, _ := el.(obj)
				attrs[fmt.Sprint(m["name"])] = fmt.Sprint(m["type"])
			}
		}
		for name, typ := range map[string]string{"role": "string", "timeTrackingAdmin": "boolean", "canCreateProjects": "boolean", "canViewRates": "boolean", "allProjects": "boolean"} {
			if attrs[name] != typ {
				t.Fatalf("TimeCamp attribute %s: type %q, want %q (all: %v)", name, attrs[name], typ, attrs)
			}
		}
	})

	step("create a user: query by userName, then POST with booleans as strings, meta, roles [] and nulls", func(t *testing.T) {
		expectEmptyList(t, entra.get(t, byUserName("megan@contoso.example")))
		r := entra.do(t, http.MethodPost, "/Users", "entra/create-user.json", vars{
			"externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef", "userName": "megan@contoso.example",
			"displayName": "Megan Bowen", "givenName": "Megan", "familyName": "Bowen", "department": "Leadership",
		})
		megan = expectCreated(t, r, base, "/Users")
		if r.At("active") != true || r.Str("userName") != "megan@contoso.example" || r.Str("externalId") != "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef" {
			t.Fatalf("created user: %s", r.Raw)
		}
		if r.Str("name.givenName") != "Megan" || r.Str("name.formatted") != "Megan Bowen" || ent(r, "department") != "Leadership" {
			t.Fatalf("name or department: %s", r.Raw)
		}
		if !same(emailsOf(r.At("emails")), "work:megan@contoso.example*") {
			t.Fatalf("emails %v", emailsOf(r.At("emails")))
		}
		// The null-valued attributes were not stored.
		for _, k := range []string{"title", "addresses", "phoneNumbers", "preferredLanguage", enterpriseURN + ".manager", enterpriseURN + ".employeeNumber"} {
			if r.At(k) != nil {
				t.Fatalf("%s should be unassigned: %s", k, r.Raw)
			}
		}
		if tc(r, "role") != "user" || tc(r, "effectiveRole") != "user" || tc(r, "invitationStatus") != "pending" {
			t.Fatalf("TimeCamp defaults: %s", r.Raw)
		}
	})

	step("get the user by query, in the forms Entra and its validator use", func(t *testing.T) {
		expectOne(t, entra.get(t, byUserName("megan@contoso.example")), megan)
		expectOne(t, entra.get(t, users(`UserName eq "Megan@Contoso.example"`)), megan)
		expectOne(t, entra.get(t, users(`externalId eq "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef"`)), megan)
		expectOne(t, entra.get(t, users(`emails[type eq "work"].value eq "megan@contoso.example"`)), megan)
		// As Microsoft's test collection writes it: a trailing slash and
		// "+" for spaces.
		expectOne(t, entra.get(t, "/Users/?filter=DisplayName+eq+%22Megan+Bowen%22"), megan)
		r := entra.get(t, "/Users/"+megan).Expect(t, http.StatusOK)
		if r.Str("id") != megan || r.Str("userName") != "megan@contoso.example" {
			t.Fatalf("get user: %s", r.Raw)
		}
	})

	step("create a user with its department and manager", func(t *testing.T) {
		expectEmptyList(t, entra.get(t, byUserName("adele@contoso.example")))
		r := entra.do(t, http.MethodPost, "/Users", "entra/create-user-with-manager.json", vars{
			"externalId": "58342554-38d6-4ec8-948c-50044d0a33fd", "userName": "adele@contoso.example",
			"displayName": "Adele Vance", "givenName": "Adele", "familyName": "Vance", "department": "Retail",
			"managerId": megan,
		})
		adele = expectCreated(t, r, base, "/Users")
		if ent(r, "department") != "Retail" || ent(r, "employeeNumber") != "4711" || r.Str(enterpriseURN+".manager.value") != megan || r.Str("title") != "Developer" {
			t.Fatalf("enterprise attributes: %s", r.Raw)
		}
		if r.At("active") != true {
			t.Fatalf("active: %s", r.Raw)
		}
	})

	step("attribute names in other letter case and the manager as a plain id (the validator's create)", func(t *testing.T) {
		expectEmptyList(t, entra.get(t, byUserName("lee@contoso.example")))
		r := entra.do(t, http.MethodPost, "/Users", "entra/create-user-validator-case.json", vars{
			"externalId": "7fce0092-d52e-4f76-b727-3955bd72c939", "userName": "lee@contoso.example",
			"displayName": "Lee Gu", "givenName": "Lee", "familyName": "Gu", "department": "Manufacturing",
			"managerId": megan,
		})
		lee = expectCreated(t, r, base, "/Users")
		if r.Str("userName") != "lee@contoso.example" || r.At("active") != true || r.Str("displayName") != "Lee Gu" || r.Str("name.familyName") != "Gu" || r.Str("externalId") != "7fce0092-d52e-4f76-b727-3955bd72c939" {
			t.Fatalf("core attributes: %s", r.Raw)
		}
		if !same(emailsOf(r.At("emails")), "work:lee@contoso.example*", "home:home.lee@contoso.example") {
			t.Fatalf("emails %v", emailsOf(r.At("emails")))
		}
		if ent(r, "department") != "Manufacturing" || r.Str(enterpriseURN+".manager.value") != megan {
			t.Fatalf("enterprise attributes: %s", r.Raw)
		}
	})

	step("PATCH with attribute names in other letter case", func(t *testing.T) {
		r := entra.do(t, http.MethodPatch, "/Users/"+lee, "entra/patch-user-validator-case.json", vars{
			"displayName": "Lee G.", "givenName": "Lee", "email": "gu.lee@contoso.example", "nickName": "LG", "department": "Operations",
		}).Expect(t, http.StatusOK)
		if r.Str("displayName") != "Lee G." || r.Str("name.givenName") != "Lee" || r.Str("nickName") != "LG" || ent(r, "department") != "Operations" || r.At("active") != true {
			t.Fatalf("patched user: %s", r.Raw)
		}
		if !same(emailsOf(r.At("emails")), "work:gu.lee@contoso.example*", "home:home.lee@contoso.example") {
			t.Fatalf("emails %v", emailsOf(r.At("emails")))
		}
	})

	step("creating a user that exists is a 409 uniqueness error", func(t *testing.T) {
		r := entra.do(t, http.MethodPost, "/Users", "entra/create-user.json", vars{
			"externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef", "userName": "MEGAN@contoso.example",
			"displayName": "Megan Bowen", "givenName": "Megan", "familyName": "Bowen", "department": "Leadership",
		})
		expectError(t, r, http.StatusConflict, "uniqueness")
	})

	step("update user: multi-valued properties (work email and family name)", func(t *testing.T) {
		r := entra.do(t, http.MethodPatch, "/Users/"+adele, "entra/patch-user-multi-valued.json", vars{
			"email": "adele.vance@contoso.example", "familyName": "Vance-Smith",
		}).Expect(t, http.StatusOK)
		if !same(emailsOf(r.At("emails")), "work:adele.vance@contoso.example*") {
			t.Fatalf("emails %v", emailsOf(r.At("emails")))
		}
		if r.Str("name.familyName") != "Vance-Smith" || r.Str("name.givenName") != "Adele" {
			t.Fatalf("name: %s", r.Raw)
		}
	})

	step("update user: single-valued property (userName)", func(t *testing.T) {
		r := entra.do(t, http.MethodPatch, "/Users/"+adele, "entra/patch-user-username.json", vars{
			"userName": "adele.vance@contoso.example",
		}).Expect(t, http.StatusOK)
		if r.Str("userName") != "adele.vance@contoso.example" {
			t.Fatalf("userName: %s", r.Raw)
		}
		expectOne(t, entra.get(t, byUserName("adele.vance@contoso.example")), adele)
		expectEmptyList(t, entra.get(t, byUserName("adele@contoso.example")))
	})

	step("add a single-valued string attribute", func(t *testing.T) {
		r := entra.do(t, http.MethodPatch, "/Users/"+adele, "entra/patch-user-add-nickname.json", vars{"nickName": "Babs"}).Expect(t, http.StatusOK)
		if r.Str("nickName") != "Babs" {
			t.Fatalf("nickName: %s", r.Raw)
		}
	})

	step("replace several attributes, one operation each", func(t *testing.T) {
		r := entra.do(t, http.MethodPatch, "/Users/"+adele, "entra/patch-user-replace-many.json", vars{
			"displayName": "Pvlo", "email": "pvlo@contoso.example", "givenName": "Gtfd", "familyName": "Pkqf",
			"externalId": "Eqpj", "employeeNumber": "Eqpj",
		}).Expect(t, http.StatusOK)
		if r.Str("displayName") != "Pvlo" || r.Str("name.givenName") != "Gtfd" || r.Str("name.familyName") != "Pkqf" || r.Str("externalId") != "Eqpj" || ent(r, "employeeNumber") != "Eqpj" {
			t.Fatalf("replaced attributes: %s", r.Raw)
		}
		if !same(emailsOf(r.At("emails")), "work:pvlo@contoso.example*") {
			t.Fatalf("emails %v", emailsOf(r.At("emails")))
		}
		// Untouched attributes stay.
		if ent(r, "department") != "Retail" || r.Str(enterpriseURN+".manager.value") != megan || r.Str("nickName") != "Babs" {
			t.Fatalf("untouched attributes changed: %s", r.Raw)
		}
	})

	step("replace several attributes with one path-less value (aadOptscim062020)", func(t *testing.T) {
		r := entra.do(t, http.MethodPatch, "/Users/"+adele, "entra/patch-user-replace-many-flag.json", vars{
			"email": "mhvaes@contoso.example", "displayName": "Bjfe", "givenName": "Kkom", "familyName": "Unua",
			"employeeNumber": "Aklq", "department": "Sales",
		}).Expect(t, http.StatusOK)
		if r.Str("displayName") != "Bjfe" || r.Str("name.givenName") != "Kkom" || r.Str("name.familyName") != "Unua" || ent(r, "employeeNumber") != "Aklq" || ent(r, "department") != "Sales" {
			t.Fatalf("replaced attributes: %s", r.Raw)
		}
		if !same(emailsOf(r.At("emails")), "work:mhvaes@contoso.example*") || r.Str("externalId") != "Eqpj" {
			t.Fatalf("emails %v / externalId: %s", emailsOf(r.At("emails")), r.Raw)
		}
	})

	step("path-less add with a filtered key (the validator's update)", func(t *testing.T) {
		r := entra.do(t, http.MethodPatch, "/Users/"+lee, "entra/patch-user-add-no-path-validator.json", vars{
			"nickName": "Lee", "title": "Planner", "email": "lee.gu@contoso.example", "givenName": "Leeroy", "costCenter": "CC-42",
		}).Expect(t, http.StatusOK)
		if r.Str("nickName") != "Lee" || r.Str("title") != "Planner" || r.Str("name.givenName") != "Leeroy" || r.Str("name.familyName") != "Gu" || ent(r, "costCenter") != "CC-42" {
			t.Fatalf("added attributes: %s", r.Raw)
		}
		if !same(emailsOf(r.At("emails")), "work:lee.gu@contoso.example*", "home:home.lee@contoso.example") {
			t.Fatalf("emails %v", emailsOf(r.At("emails")))
		}
	})

	step("addresses, phone numbers and other emails through filtered paths", func(t *testing.T) {
		r := entra.do(t, http.MethodPatch, "/Users/"+adele, "entra/patch-user-addresses-phones.json", vars{
			"streetAddress": "1 Microsoft Way", "locality": "Redmond", "postalCode": "98052", "country": "US",
			"office": "Building 32", "workPhone": "+1 425 555 0100", "mobile": "+1 425 555 0101",
			"otherEmail": "adele@proxy.contoso.example",
		}).Expect(t, http.StatusOK)
		addrs, _ := r.At("addresses").([]any)
		if len(addrs) != 2 {
			t.Fatalf("want one work and one other address: %s", r.Raw)
		}
		for _, el := range addrs {
			m := el.(obj)
			switch m["type"] {
			case "work":
				if m["streetAddress"] != "1 Microsoft Way" || m["locality"] != "Redmond" || m["postalCode"] != "98052" || m["country"] != "US" {
					t.Fatalf("work address %v", m)
				}
			case "other":
				if m["formatted"] != "Building 32" {
					t.Fatalf("other address %v", m)
				}
			default:
				t.Fatalf("address %v", m)
			}
		}
		if got := typed(r.At("phoneNumbers"), "value"); !same(got, "work:+1 425 555 0100", "mobile:+1 425 555 0101") {
			t.Fatalf("phoneNumbers %v", got)
		}
		if !same(emailsOf(r.At("emails")), "work:mhvaes@contoso.example*", "other:adele@proxy.contoso.example") {
			t.Fatalf("emails %v", emailsOf(r.At("emails")))
		}
		// Then the street changes and the mobile number is cleared.
		r = entra.do(t, http.MethodPatch, "/Users/"+adele, "entra/patch-user-replace-street.json", vars{
			"streetAddress": "15010 NE 36th St",
		}).Expect(t, http.StatusOK)
		if got := typed(r.At("addresses"), "streetAddress"); !same(got, "work:15010 NE 36th St", "other:<nil>") {
			t.Fatalf("addresses %v", got)
		}
		if got := typed(r.At("phoneNumbers"), "value"); !same(got, "work:+1 425 555 0100") {
			t.Fatalf("phoneNumbers after clearing the mobile number %v", got)
		}
	})

	step("add a work email to a user who has none", func(t *testing.T) {
		expectEmptyList(t, entra.get(t, byUserName("nestor@contoso.example")))
		r := entra.do(t, http.MethodPost, "/Users", "entra/create-user-no-email.json", vars{
			"externalId": "9b2c1f55-1c7a-44a4-b1e5-0b9d5d4a3c21", "userName": "nestor@contoso.example",
		})
		nestor = expectCreated(t, r, base, "/Users")
		if r.At("emails") != nil {
			t.Fatalf("emails: %s", r.Raw)
		}
		r = entra.do(t, http.MethodPatch, "/Users/"+nestor, "entra/patch-user-add-work-email.json", vars{
			"email": "nestor.wilke@contoso.example",
		}).Expect(t, http.StatusOK)
		if got := typed(r.At("emails"), "value"); !same(got, "work:nestor.wilke@contoso.example") {
			t.Fatalf("emails %v: %s", got, r.Raw)
		}
	})

	step("disable and enable a user (\"False\" and \"True\", then false with aadOptscim062020)", func(t *testing.T) {
		r := entra.do(t, http.MethodPatch, "/Users/"+nestor, "entra/patch-user-disable.json", nil).Expect(t, http.StatusOK)
		if r.At("active") != false || tc(r, "countsTowardSeats") != false {
			t.Fatalf("disabled: %s", r.Raw)
		}
		// A disabled user is still there for Entra to find.
		got := expectOne(t, entra.get(t, byUserName("nestor@contoso.example")), nestor)
		if got["active"] != false {
			t.Fatalf("listed as %v", got["active"])
		}
		r = entra.do(t, http.MethodPatch, "/Users/"+nestor, "entra/patch-user-enable.json", nil).Expect(t, http.StatusOK)
		if r.At("active") != true || tc(r, "countsTowardSeats") != true {
			t.Fatalf("enabled: %s", r.Raw)
		}
		r = entra.do(t, http.MethodPatch, "/Users/"+nestor+"?aadOptscim062020", "entra/patch-user-disable-flag.json", nil).Expect(t, http.StatusOK)
		if r.At("active") != false {
			t.Fatalf("disabled with the flag: %s", r.Raw)
		}
		if r := entra.get(t, "/Users/"+nestor).Expect(t, http.StatusOK); r.At("active") != false {
			t.Fatalf("GET after disabling: %s", r.Raw)
		}
		entra.do(t, http.MethodPatch, "/Users/"+nestor, "entra/patch-user-enable.json", nil).Expect(t, http.StatusOK)
	})

	step("set, check and remove the manager in every form Entra sends", func(t *testing.T) {
		managerOf := func(r interface{ Str(string) string }) string { return r.Str(enterpriseURN + ".manager.value") }
		// The validator's user got its manager as a plain id; Entra removes it.
		r := entra.do(t, http.MethodPatch, "/Users/"+lee, "entra/patch-user-manager-remove.json", nil).Expect(t, http.StatusOK)
		if r.At(enterpriseURN+".manager") != nil || ent(r, "department") != "Operations" {
			t.Fatalf("manager not removed, or the department with it: %s", r.Raw)
		}
		// Add with a plain id.
		r = entra.do(t, http.MethodPatch, "/Users/"+adele, "entra/patch-user-manager-string.json", vars{"managerId": lee}).Expect(t, http.StatusOK)
		if managerOf(r) != lee {
			t.Fatalf("manager (plain id): %s", r.Raw)
		}
		// Before updating a reference Entra asks whether it already has the
		// value.
		expectOne(t, entra.get(t, users(fmt.Sprintf(`id eq "%s" and manager eq "%s"`, adele, lee), "attributes", "id")), adele)
		expectEmptyList(t, entra.get(t, users(fmt.Sprintf(`id eq "%s" and manager eq "%s"`, adele, megan), "attributes", "id")))
		// Replace with {"value": id}.
		r = entra.do(t, http.MethodPatch, "/Users/"+adele, "entra/patch-user-manager-object.json", vars{"managerId": megan}).Expect(t, http.StatusOK)
		if managerOf(r) != megan {
			t.Fatalf("manager (object): %s", r.Raw)
		}
		// Add through the short path "manager" with a one-element list
		// holding $ref and value.
		r = entra.do(t, http.MethodPatch, "/Users/"+adele, "entra/patch-user-manager-reference.json", vars{"managerId": lee, "base": base}).Expect(t, http.StatusOK)
		if managerOf(r) != lee {
			t.Fatalf("manager (reference list): %s", r.Raw)
		}
		// Remove, naming the value.
		r = entra.do(t, http.MethodPatch, "/Users/"+adele, "entra/patch-user-manager-remove-value.json", vars{"managerId": lee}).Expect(t, http.StatusOK)
		if r.At(enterpriseURN+".manager") != nil {
			t.Fatalf("manager not removed: %s", r.Raw)
		}
		if got := entra.get(t, "/Users/"+adele).Expect(t, http.StatusOK); got.At(enterpriseURN+".manager") != nil || ent(got, "department") != "Sales" {
			t.Fatalf("GET after removing the manager: %s", got.Raw)
		}
	})

	step("app role assignment (SingleAppRoleAssignment) sets the TimeCamp role", func(t *testing.T) {
		expectEmptyList(t, entra.get(t, byUserName("alex@contoso.example")))
		r := entra.do(t, http.MethodPost, "/Users", "entra/create-user-app-role.json", vars{
			"externalId": "4f7c3a2e-5b21-4d8e-9c0f-1a2b3c4d5e6f", "userName": "alex@contoso.example", "displayName": "Alex Wilber",
		})
		alex = expectCreated(t, r, base, "/Users")
		if tc(r, "role") != "supervisor" || tc(r, "effectiveRole") != "supervisor" {
			t.Fatalf("role from the app role: %s", r.Raw)
		}
		if got := typed(r.At("roles"), "value"); !same(got, "WindowsAzureActiveDirectoryRole:Supervisor") {
			t.Fatalf("roles are kept as sent: %v", got)
		}
		// Reassigned: the PATCH carries the app role as a JSON string.
		r = entra.do(t, http.MethodPatch, "/Users/"+alex, "entra/patch-user-app-role.json", vars{
			"appRoleId": "06b07648-ecfe-589f-9d2f-6325724a46ee", "appRole": "Guest",
		}).Expect(t, http.StatusOK)
		if tc(r, "role") != "guest" || tc(r, "effectiveRole") != "guest" || tc(r, "countsTowardSeats") != false {
			t.Fatalf("role after the app-role PATCH: %s", r.Raw)
		}
		// With aadOptscim062020 the PATCH has the POST's shape.
		r = entra.do(t, http.MethodPatch, "/Users/"+alex, "entra/patch-user-app-role-flag.json", vars{"appRole": "User"}).Expect(t, http.StatusOK)
		if tc(r, "role") != "user" {
			t.Fatalf("role after the flagged app-role PATCH: %s", r.Raw)
		}
		// A mapping onto roles[primary eq "True"].value.
		r = entra.do(t, http.MethodPatch, "/Users/"+alex, "entra/patch-user-app-role-primary-value.json", vars{"appRole": "Supervisor"}).Expect(t, http.StatusOK)
		if tc(r, "role") != "supervisor" {
			t.Fatalf("role after roles[primary eq \"True\"].value: %s", r.Raw)
		}
	})

	step("several app roles (AppRoleAssignmentsComplex): the highest applies", func(t *testing.T) {
		r := entra.do(t, http.MethodPost, "/Users", "entra/create-user-app-roles-complex.json", vars{
			"externalId": "1d2e3f40-5a6b-4c7d-8e9f-0a1b2c3d4e5f", "userName": "diego@contoso.example", "displayName": "Diego Siciliani",
		})
		diego = expectCreated(t, r, base, "/Users")
		if tc(r, "role") != "supervisor" {
			t.Fatalf("role from several app roles: %s", r.Raw)
		}
	})

	step("TimeCamp extension attributes through custom mappings", func(t *testing.T) {
		r := entra.do(t, http.MethodPost, "/Users", "entra/create-user-timecamp.json", vars{
			"externalId": "2b3c4d5e-6f70-4182-93a4-b5c6d7e8f901", "userName": "grady@contoso.example", "displayName": "Grady Archie",
		})
		grady = expectCreated(t, r, base, "/Users")
		if tc(r, "role") != "supervisor" || tc(r, "canCreateProjects") != true || tc(r, "canViewRates") != false || tc(r, "timeTrackingAdmin") != false ||
			tc(r, "notifyDailySummary") != false || tc(r, "notifyWeeklySummary") != true {
			t.Fatalf("TimeCamp attributes: %s", r.Raw)
		}
		r = entra.do(t, http.MethodPatch, "/Users/"+grady, "entra/patch-user-timecamp.json", nil).Expect(t, http.StatusOK)
		if tc(r, "timeTrackingAdmin") != true || tc(r, "canViewRates") != true || tc(r, "canCreateProjects") != true || tc(r, "notifyBudget") != false || tc(r, "role") != "user" {
			t.Fatalf("TimeCamp attributes after PATCH: %s", r.Raw)
		}
	})

	var engineering string
	step("create a group: query by displayName without members, then POST with Microsoft's extra schema", func(t *testing.T) {
		expectEmptyList(t, entraJSON.get(t, groups(`displayName eq "Engineering"`)))
		r := entraJSON.do(t, http.MethodPost, "/Groups", "entra/create-group.json", vars{
			"externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159", "displayName": "Engineering",
		})
		engineering = expectCreated(t, r, base, "/Groups")
		if r.Str("displayName") != "Engineering" || r.Str("externalId") != "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159" {
			t.Fatalf("group: %s", r.Raw)
		}
		if m, ok := r.Body["members"]; ok && len(m.([]any)) != 0 {
			t.Fatalf("a new group has no members: %s", r.Raw)
		}
		got := expectOne(t, entraJSON.get(t, groups(`displayName eq "Engineering"`)), engineering)
		if _, ok := got["members"]; ok {
			t.Fatalf("excludedAttributes=members returned members: %v", got)
		}
		g := entraJSON.get(t, "/Groups/"+engineering+"?excludedAttributes=members").Expect(t, http.StatusOK)
		if _, ok := g.Body["members"]; ok || g.Str("displayName") != "Engineering" {
			t.Fatalf("get group: %s", g.Raw)
		}
	})

	isMember := func(t *testing.T, group, user string) bool {
		t.Helper()
		r := entraJSON.get(t, groups(fmt.Sprintf(`id eq "%s" and members eq "%s"`, group, user))).Expect(t, http.StatusOK)
		expectListShape(t, r)
		switch ids := listIDs(t, r); {
		case len(ids) == 0:
			return false
		case len(ids) == 1 && ids[0] == group:
			if _, ok := resources(t, r)[0]["members"]; ok {
				t.Fatalf("excludedAttributes=members returned members: %s", r.Raw)
			}
			return true
		default:
			t.Fatalf("membership check: %s", r.Raw)
		}
		return false
	}

	step("add members as a value array ($ref null): 204, then the membership check", func(t *testing.T) {
		r := entraJSON.do(t, http.MethodPatch, "/Groups/"+engineering, "entra/patch-group-add-members.json", vars{
			"member1": adele, "member2": lee, "member3": nestor,
		}).Expect(t, http.StatusNoContent)
		if r.Header.Get("ETag") == "" {
			t.Fatalf("204 without an ETag")
		}
		for _, u := range []string{adele, lee, nestor} {
			if !isMember(t, engineering, u) {
				t.Fatalf("%s is not a member", u)
			}
		}
		if isMember(t, engineering, megan) {
			t.Fatalf("megan is a member")
		}
		// Adding a member again, or removing one who is not a member,
		// changes nothing and is no error.
		entraJSON.do(t, http.MethodPatch, "/Groups/"+engineering, "entra/patch-group-add-member.json", vars{"member": lee}).Expect(t, http.StatusNoContent)
		entraJSON.do(t, http.MethodPatch, "/Groups/"+engineering, "entra/patch-group-remove-members.json", vars{"member": megan}).Expect(t, http.StatusNoContent)
		g := entraJSON.get(t, "/Groups/"+engineering).Expect(t, http.StatusOK)
		if got := memberIDs(g.At("members")); !same(got, adele, lee, nestor) {
			t.Fatalf("members %v", got)
		}
		u := entra.get(t, "/Users/"+adele).Expect(t, http.StatusOK)
		if got := memberIDs(u.At("groups")); !same(got, engineering) {
			t.Fatalf("adele's groups %v", got)
		}
	})

	step("remove a member: path members with a value array", func(t *testing.T) {
		entraJSON.do(t, http.MethodPatch, "/Groups/"+engineering, "entra/patch-group-remove-members.json", vars{"member": adele}).Expect(t, http.StatusNoContent)
		if isMember(t, engineering, adele) || !isMember(t, engineering, lee) {
			t.Fatalf("membership after removing adele")
		}
	})

	step("remove a member: members[value eq \"id\"] (aadOptscim062020)", func(t *testing.T) {
		entraJSON.do(t, http.MethodPatch, "/Groups/"+engineering, "entra/patch-group-remove-member-flag.json", vars{"member": lee}).Expect(t, http.StatusNoContent)
		if isMember(t, engineering, lee) || !isMember(t, engineering, nestor) {
			t.Fatalf("membership after removing lee")
		}
	})

	step("update a group's displayName", func(t *testing.T) {
		r := entraJSON.do(t, http.MethodPatch, "/Groups/"+engineering, "entra/patch-group-displayname.json", vars{"displayName": "Engineering (all)"}).Expect(t, http.StatusOK)
		if r.Str("displayName") != "Engineering (all)" {
			t.Fatalf("rename answer: %s", r.Raw)
		}
		expectOne(t, entraJSON.get(t, groups(`displayName eq "Engineering (all)"`)), engineering)
		expectEmptyList(t, entraJSON.get(t, groups(`displayName eq "Engineering"`)))
		if !isMember(t, engineering, nestor) {
			t.Fatalf("members lost on rename")
		}
	})

	var supervisors string
	step("a group granting a role and project access gives them to its members", func(t *testing.T) {
		expectEmptyList(t, entraJSON.get(t, groups(`displayName eq "Supervisors"`)))
		r := entraJSON.do(t, http.MethodPost, "/Groups", "entra/create-group-grants.json", vars{
			"externalId": "c0ffee00-1111-4222-8333-944455556666", "displayName": "Supervisors", "grantsRole": "supervisor",
		})
		supervisors = expectCreated(t, r, base, "/Groups")
		if r.Str("urn:ietf:params:scim:schemas:extension:timecamp:2.0:Group.grantsRole") != "supervisor" {
			t.Fatalf("grantsRole: %s", r.Raw)
		}
		// A TimeCamp administrator (another client of the account) gives
		// the group a project; Entra never sends it.
		p := s.Client.Post(t, "/Projects", obj{"schemas": arr{"urn:timecamp:params:scim:schemas:core:2.0:Project"}, "displayName": "Apollo"}).Expect(t, http.StatusCreated)
		project := p.Str("id")
		s.Client.Patch(t, "/Groups/"+supervisors+"?excludedAttributes=members", map[string]any{
			"op": "add", "path": "urn:ietf:params:scim:schemas:extension:timecamp:2.0:Group:projects",
			"value": arr{obj{"value": project, "role": "manager"}},
		}).Expect(t, http.StatusOK)

		entraJSON.do(t, http.MethodPatch, "/Groups/"+supervisors, "entra/patch-group-add-member.json", vars{"member": nestor}).Expect(t, http.StatusNoContent)
		u := entra.get(t, "/Users/"+nestor).Expect(t, http.StatusOK)
		if tc(u, "role") != "user" || tc(u, "effectiveRole") != "supervisor" {
			t.Fatalf("granted role: %s", u.Raw)
		}
		projects, _ := tc(u, "projects").([]any)
		if len(projects) != 1 {
			t.Fatalf("granted projects: %s", u.Raw)
		}
		if m := projects[0].(obj); m["value"] != project || m["role"] != "manager" || m["inherited"] != true || m["display"] != "Apollo" {
			t.Fatalf("granted project %v", m)
		}
		// Entra's own updates leave the grants alone.
		entraJSON.do(t, http.MethodPatch, "/Groups/"+supervisors, "entra/patch-group-displayname.json", vars{"displayName": "Team leads"})
		g := entraJSON.get(t, "/Groups/"+supervisors+"?excludedAttributes=members").Expect(t, http.StatusOK)
		if g.Str(timecampGroupURN+".grantsRole") != "supervisor" || g.At(timecampGroupURN+".projects") == nil {
			t.Fatalf("grants lost on rename: %s", g.Raw)
		}
		// A custom mapping may change the granted role.
		entraJSON.do(t, http.MethodPatch, "/Groups/"+supervisors, "entra/patch-group-grants-role.json", vars{"grantsRole": "administrator"})
		if u := entra.get(t, "/Users/"+nestor).Expect(t, http.StatusOK); tc(u, "effectiveRole") != "administrator" {
			t.Fatalf("role granted after the change: %s", u.Raw)
		}
		// Leaving the group takes the grants away.
		entraJSON.do(t, http.MethodPatch, "/Groups/"+supervisors, "entra/patch-group-remove-member-flag.json", vars{"member": nestor}).Expect(t, http.StatusNoContent)
		u = entra.get(t, "/Users/"+nestor).Expect(t, http.StatusOK)
		if tc(u, "effectiveRole") != "user" || tc(u, "projects") != nil {
			t.Fatalf("grants after leaving the group: %s", u.Raw)
		}
		// Back in the group, then the group is deleted: the grants go too.
		entraJSON.do(t, http.MethodPatch, "/Groups/"+supervisors, "entra/patch-group-add-member.json", vars{"member": nestor}).Expect(t, http.StatusNoContent)
		if u := entra.get(t, "/Users/"+nestor).Expect(t, http.StatusOK); tc(u, "effectiveRole") != "administrator" {
			t.Fatalf("granted role after joining again: %s", u.Raw)
		}
	})

	step("delete groups", func(t *testing.T) {
		for _, g := range []string{engineering, supervisors} {
			entraJSON.do(t, http.MethodDelete, "/Groups/"+g, "", nil).Expect(t, http.StatusNoContent)
			entraJSON.get(t, "/Groups/"+g).Expect(t, http.StatusNotFound)
		}
		u := entra.get(t, "/Users/"+nestor).Expect(t, http.StatusOK)
		if u.At("groups") != nil || tc(u, "effectiveRole") != "user" || tc(u, "projects") != nil {
			t.Fatalf("groups and grants of a user after deleting the groups: %s", u.Raw)
		}
	})

	step("delete a user", func(t *testing.T) {
		entra.do(t, http.MethodDelete, "/Users/"+diego, "", nil).Expect(t, http.StatusNoContent)
		r := entra.get(t, "/Users/"+diego).Expect(t, http.StatusNotFound)
		if r.Str("status") != "404" {
			t.Fatalf("404 body: %s", r.Raw)
		}
		expectEmptyList(t, entra.get(t, byUserName("diego@contoso.example")))
		if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/scim+json") {
			t.Fatalf("Content-Type %q", r.Header.Get("Content-Type"))
		}
	})
}

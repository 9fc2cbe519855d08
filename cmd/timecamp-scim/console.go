package main

import (
	"context"
	"fmt"

	"github.com/timecamp/timecamp-scim/admin"
	"github.com/timecamp/timecamp-scim/config"
	"github.com/timecamp/timecamp-scim/directory"
	"github.com/timecamp/timecamp-scim/scim"
	"github.com/timecamp/timecamp-scim/store"
)

// adminConsole sets up the admin console at /admin/ (without the OpenID
// Connect settings it only says how to configure it).
func adminConsole(ctx context.Context, cfg *config.Config, st store.Store, dir *directory.Service, srv *scim.Server) (*admin.Console, error) {
	log := cfg.Logger()
	secret, err := st.Secret(ctx, "admin-login")
	if err != nil {
		return nil, fmt.Errorf("admin console secret: %w", err)
	}
	c := admin.New(admin.Config{
		Directory: dir, Issuer: cfg.OIDCIssuer, ClientID: cfg.OIDCClientID, ClientSecret: cfg.OIDCClientSecret,
		RedirectURL: cfg.RedirectURL(), BaseURL: cfg.PublicBaseURL(), SCIMClient: srv.InProcessClient, Logger: log,
	}, secret)
	if cfg.AdminConsole() {
		log.Info("admin console", "url", cfg.PublicBaseURL()+"/admin/", "issuer", cfg.OIDCIssuer, "redirect", cfg.RedirectURL())
	} else {
		log.Info("admin console not configured: set SCIM_OIDC_ISSUER, SCIM_OIDC_CLIENT_ID and SCIM_OIDC_CLIENT_SECRET to sign in at /admin/")
	}
	return c, nil
}

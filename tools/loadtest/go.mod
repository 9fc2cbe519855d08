module github.com/timecamp/timecamp-scim/tools/loadtest

go 1.26.8

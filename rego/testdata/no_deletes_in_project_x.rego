# A rule a security team adds to the shipped policy, as rego/README.md shows:
# no server is deleted in project X, whoever asks. userrule_test.go loads it
# with the shipped policy, both appended to authz.rego and as a module of its
# own in the same package.
package ecsgate.authz

project_x := "7e57000000000000000000000000000a"

violations contains "no deletes in project X" if {
	input.operation == "server.delete"
	input.project_id == project_x
}

violations contains "no deletes in project X" if {
	input.operation == "server.delete"
	caller_project == project_x
}

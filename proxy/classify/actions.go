package classify

// novaServerActionNames is the byte-exact allow-list of keys accepted on
// POST /servers/{id}/action: the actions of Nova's server controllers.
// resetNetwork and os-getRDPConsole are gone upstream (410, 400) but may
// still run on an older fork, so they are classified and left to policy
// rather than rejected.
var novaServerActionNames = []string{
	"addFixedIp",
	"addFloatingIp",
	"addSecurityGroup",
	"changePassword",
	"confirmResize",
	"createBackup",
	"createImage",
	"evacuate",
	"forceDelete",
	"injectNetworkInfo",
	"lock",
	"migrate",
	"os-getConsoleOutput",
	"os-getRDPConsole",
	"os-getSPICEConsole",
	"os-getSerialConsole",
	"os-getVNCConsole",
	"os-migrateLive",
	"os-resetState",
	"os-start",
	"os-stop",
	"pause",
	"reboot",
	"rebuild",
	"removeFixedIp",
	"removeFloatingIp",
	"removeSecurityGroup",
	"rescue",
	"resetNetwork",
	"resize",
	"restore",
	"resume",
	"revertResize",
	"shelve",
	"shelveOffload",
	"suspend",
	"trigger_crash_dump",
	"unlock",
	"unpause",
	"unrescue",
	"unshelve",
}

// The maps return the canonical string so that Action.Name never aliases the
// request body and costs no allocation.
var novaServerActions = stringSet(novaServerActionNames)

// novaMigrationActions is the action table of
// POST /servers/{id}/migrations/{mid}/action.
var novaMigrationActions = stringSet([]string{"force_complete"})

func stringSet(names []string) map[string]string {
	m := make(map[string]string, len(names))
	for _, n := range names {
		m[n] = n
	}
	return m
}

// NovaServerActions returns the server action names the classifier accepts,
// for policy authors and tests.
func NovaServerActions() []string {
	return append([]string(nil), novaServerActionNames...)
}

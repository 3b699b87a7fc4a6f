package classify

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// Request is the part of an HTTP request the classifier looks at. Every field
// is taken as received: the classifier never normalises, it only accepts or
// rejects, so that the bytes forwarded are the bytes classified.
type Request struct {
	// Method as received, case preserved.
	Method string
	// RawPath is the path exactly as on the request line, still
	// percent-escaped (r.RequestURI cut at the first '?').
	RawPath string
	// RawQuery is the query exactly as received.
	RawQuery string
	// Header as Go parsed it.
	Header http.Header
	// Body is the whole body, already bounded by the caller; nil or empty if
	// none. The classifier keeps sub-slices of it (Action.Args), so the caller
	// must not modify it afterwards.
	Body []byte
}

// Operation is what the upstream would execute for a request.
type Operation struct {
	// Family is "nova" or "ecs".
	Family string
	// Version is "v2", "v2.1", "v1", "v1.1" or "" (unversioned discovery).
	Version string
	// Microversion is the Nova microversion computed as Nova does ("2.1"
	// default, "/v2" forces "2.1", "latest" resolved); "" for ecs and for
	// unversioned discovery.
	Microversion string
	// Name is the operation, see the package documentation.
	Name string
	// Route is a low-cardinality route template without version and project,
	// for example "/servers/{server_id}/action".
	Route string
	// Action is non-nil only for action operations.
	Action *Action
	// ServerIDs are the canonical lowercase UUIDs the request targets. It may
	// hold duplicates when a native batch body repeats a server.
	ServerIDs []string
	// ProjectID is the {project_id} path segment, "" when the path has none.
	ProjectID string
}

// Action is the action requested by an action body, or by the path of a
// host power action.
type Action struct {
	// Name is the action key after JSON unescaping, byte-exact; always one of
	// the allow-listed names. For OpHostAction it is the path's last
	// segment: HostReboot, HostShutdown or HostStartup.
	Name string
	// Args is the exact JSON bytes of the action's value (a sub-slice of the
	// request body), or for native single-server actions the whole body (nil
	// when the body is empty). Nil for OpHostAction: a GET has no body.
	Args json.RawMessage
}

// Options configure a Classifier.
type Options struct {
	// MaxMicroversion is the highest Nova microversion the upstream supports;
	// "latest" resolves to it. Default "2.93".
	MaxMicroversion string
}

// Classifier turns requests into Operations. It is safe for concurrent use.
type Classifier struct {
	maxVersion    apiVersion
	maxVersionStr string
}

// DefaultMaxMicroversion is the maximum microversion of Nova Zed, the
// reference deployment.
const DefaultMaxMicroversion = "2.93"

// New returns a Classifier for opts.
func New(opts Options) (*Classifier, error) {
	maxStr := opts.MaxMicroversion
	if maxStr == "" {
		maxStr = DefaultMaxMicroversion
	}
	v, ok := parseAPIVersion(maxStr)
	if !ok {
		return nil, fmt.Errorf("classify: max microversion %q is not of the form MajorNum.MinorNum", maxStr)
	}
	if v.less(minAPIVersion) || v.major != minAPIVersion.major {
		return nil, fmt.Errorf("classify: max microversion %q must be 2.1 or higher within major version 2", maxStr)
	}
	return &Classifier{maxVersion: v, maxVersionStr: maxStr}, nil
}

// Rejection is a request the classifier refuses to forward, with the answer
// Nova (or the native API) would give.
type Rejection struct {
	// Status is the HTTP status to answer with; always 4xx, never 401/403.
	Status int
	// Message is a Nova-like message.
	Message string
	// Family selects the error format: "nova" or "ecs".
	Family string
	// Reason is a stable machine code for logs and metrics.
	Reason string
}

func (r *Rejection) Error() string {
	return fmt.Sprintf("classify: %s (%d %s): %s", r.Reason, r.Status, r.Family, r.Message)
}

// Families.
const (
	FamilyNova = "nova"
	FamilyECS  = "ecs"
)

// Operation names.
const (
	OpAction                 = "server.action"
	OpCreate                 = "server.create"
	OpRead                   = "server.read"
	OpUpdate                 = "server.update"
	OpDelete                 = "server.delete"
	OpMetadataUpdate         = "server.metadata.update"
	OpMetadataDelete         = "server.metadata.delete"
	OpTagsUpdate             = "server.tags.update"
	OpTagsDelete             = "server.tags.delete"
	OpVolumeAttachmentCreate = "server.volume_attachment.create"
	OpVolumeAttachmentUpdate = "server.volume_attachment.update"
	OpVolumeAttachmentDelete = "server.volume_attachment.delete"
	OpInterfaceCreate        = "server.interface.create"
	OpInterfaceDelete        = "server.interface.delete"
	OpPasswordDelete         = "server.password.delete"
	OpMigrationForceComplete = "server.migration.force_complete"
	OpMigrationAbort         = "server.migration.abort"
	OpRemoteConsoleCreate    = "server.remote_console.create"
	OpShareCreate            = "server.share.create"
	OpShareDelete            = "server.share.delete"
	OpConsoleCreate          = "server.console.create"
	OpConsoleDelete          = "server.console.delete"
	// OpHostAction is a power action on a compute host (Nova's os-hosts
	// reboot, shutdown, startup), reached with GET. It targets no server.
	OpHostAction = "host.action"
	OpOther      = "other"
)

// Host power action names (Action.Name of OpHostAction): the last path
// segment, as Nova routes it.
const (
	HostReboot   = "reboot"
	HostShutdown = "shutdown"
	HostStartup  = "startup"
)

// HostActions returns the host power action names the classifier emits, for
// policy authors and tests.
func HostActions() []string {
	return []string{HostReboot, HostShutdown, HostStartup}
}

// Nova-like messages.
const (
	msgNotFound      = "The resource could not be found."
	msgMalformed     = "Malformed request body"
	msgBadRequest    = "The server could not comply with the request since it is either malformed or otherwise incorrect."
	msgUnsupportedCT = "Unsupported Content-Type"
)

func reject(family string, status int, reason, msg string) *Rejection {
	return &Rejection{Status: status, Message: msg, Family: family, Reason: reason}
}

// Classify returns the Operation the upstream would execute for req, or a
// *Rejection when the request must not be forwarded.
func (c *Classifier) Classify(req *Request) (Operation, error) {
	op, rej := c.classify(req)
	if rej != nil {
		return Operation{}, rej
	}
	return op, nil
}

func (c *Classifier) classify(req *Request) (Operation, *Rejection) {
	if req == nil {
		return Operation{}, reject(FamilyNova, http.StatusBadRequest, "nil_request", msgBadRequest)
	}
	fam := guessFamily(req.RawPath)

	// Nova compares methods case-sensitively and its router answers an
	// unknown method with 404, never 405.
	if !allowedMethod(req.Method) {
		return Operation{}, reject(fam, http.StatusNotFound, "bad_method", msgNotFound)
	}

	var hi headerInfo
	if rej := hi.scan(req.Header, fam); rej != nil {
		return Operation{}, rej
	}
	if rej := checkContentLength(&hi, len(req.Body), fam); rej != nil {
		return Operation{}, rej
	}
	if rej := checkQuery(req.RawQuery, fam); rej != nil {
		return Operation{}, rej
	}

	if isRead(req.Method) && (req.RawPath == "/v2.1/" || req.RawPath == "/v2/") {
		// keystoneauth's version discovery may fetch the version root with a
		// trailing slash; Nova serves the version document there. It is the
		// one trailing slash accepted: it can only read a static document.
		return c.versionRoot(req, &hi, req.RawPath[1:len(req.RawPath)-1])
	}

	var segs segments
	if rej := segs.split(req.RawPath, fam); rej != nil {
		return Operation{}, rej
	}

	r, rej := route(req.Method, &segs)
	if rej != nil {
		return Operation{}, rej
	}
	op := r.op
	fam = op.Family

	if fam == FamilyNova && op.Version != "" {
		mv, rej := c.microversion(&hi, op.Version)
		if rej != nil {
			return Operation{}, rej
		}
		op.Microversion = mv
	}

	if rej := checkContentType(&hi, fam, len(req.Body)); rej != nil {
		return Operation{}, rej
	}

	if rej := applyBody(&op, r.body, req.Method, req.Body); rej != nil {
		return Operation{}, rej
	}
	return op, nil
}

func (c *Classifier) versionRoot(req *Request, hi *headerInfo, version string) (Operation, *Rejection) {
	op := Operation{Family: FamilyNova, Version: version, Name: OpOther, Route: "/"}
	mv, rej := c.microversion(hi, version)
	if rej != nil {
		return Operation{}, rej
	}
	op.Microversion = mv
	if rej := checkContentType(hi, FamilyNova, len(req.Body)); rej != nil {
		return Operation{}, rej
	}
	if len(req.Body) != 0 {
		return Operation{}, reject(FamilyNova, http.StatusBadRequest, "body_not_allowed", msgBadRequest)
	}
	return op, nil
}

func allowedMethod(m string) bool {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodDelete:
		return true
	}
	return false
}

func isRead(m string) bool { return m == http.MethodGet || m == http.MethodHead }

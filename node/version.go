package node

// Version is the node software version reported to peers; the build sets it
// through the CLI package.
var Version = "dev"

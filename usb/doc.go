// Package usb decides where state lives: the portable layout on a stick,
// data paths, the encrypted key file and removable-media detection. It keeps
// what BorgIOS writes on the host to a minimum.
package usb

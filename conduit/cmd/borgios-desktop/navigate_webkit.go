//go:build desktop && linux && webkit2_41

package main

/*
#cgo pkg-config: gtk+-3.0 webkit2gtk-4.1
#include <stdlib.h>
#include <string.h>
#include <gtk/gtk.h>
#include <webkit2/webkit2.h>

static WebKitWebView *borgios_find_webview(GtkWidget *w) {
	if (WEBKIT_IS_WEB_VIEW(w)) {
		return WEBKIT_WEB_VIEW(w);
	}
	if (!GTK_IS_CONTAINER(w)) {
		return NULL;
	}
	WebKitWebView *found = NULL;
	GList *children = gtk_container_get_children(GTK_CONTAINER(w));
	for (GList *l = children; l != NULL && found == NULL; l = l->next) {
		found = borgios_find_webview(GTK_WIDGET(l->data));
	}
	g_list_free(children);
	return found;
}

static gboolean borgios_load(gpointer data) {
	char *uri = data;
	GList *tops = gtk_window_list_toplevels();
	for (GList *l = tops; l != NULL; l = l->next) {
		WebKitWebView *wv = borgios_find_webview(GTK_WIDGET(l->data));
		if (wv != NULL) {
			webkit_web_view_load_uri(wv, uri);
			break;
		}
	}
	g_list_free(tops);
	free(uri);
	return G_SOURCE_REMOVE;
}

// borgios_load_uri runs on the GTK thread: Wails owns the webview there.
static void borgios_load_uri(const char *uri) {
	g_idle_add(borgios_load, strdup(uri));
}
*/
import "C"

import "unsafe"

// navigatesItself: on WebKitGTK the window is sent to the conduit by
// loadURI, not by the start page.
const navigatesItself = true

// loadURI makes the window load uri the way typing it into a browser's
// address bar would: a navigation no page started. That matters for the
// conduit's session cookie, which is SameSite=Strict: after a navigation
// started by the wails:// start page (a meta refresh), WebKit treats the
// token exchange's redirect as cross-site and withholds the fresh cookie,
// so the first page would say "No session".
func loadURI(uri string) {
	c := C.CString(uri)
	defer C.free(unsafe.Pointer(c))
	C.borgios_load_uri(c)
}

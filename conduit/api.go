package conduit

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/borgios/borgios/node/identity"
)

// apiError is every API failure's body.
type apiError struct {
	Error string `json:"error"`
	Code  string `json:"code"`
	// Position and Suggestions describe an unknown word in a phrase.
	Position    int      `json:"position,omitempty"`
	Suggestions []string `json:"suggestions,omitempty"`
}

// identityJSON is GET /api/identity and the answer to unlock and confirm.
type identityJSON struct {
	Locked     bool       `json:"locked"`
	LockReason LockReason `json:"lock_reason,omitempty"`
	Address    string     `json:"address,omitempty"`
	// Public keys in hex: the Ed25519 account key and the X25519 key.
	AccountPublicKey string `json:"account_public_key,omitempty"`
	X25519PublicKey  string `json:"x25519_public_key,omitempty"`
}

// statusJSON is GET /api/status and each "status" event on /api/events.
type statusJSON struct {
	Locked          bool       `json:"locked"`
	LockReason      LockReason `json:"lock_reason,omitempty"`
	Address         string     `json:"address,omitempty"`
	IdleLockSeconds int64      `json:"idle_lock_seconds"`
	// HasKeyFile says whether unlocking with a key file passphrase works.
	HasKeyFile bool    `json:"has_key_file"`
	Network    NetView `json:"network"`
}

func (s *Server) identityJSON() identityJSON {
	id, unlocked, reason := s.vault.State()
	if !unlocked {
		return identityJSON{Locked: true, LockReason: reason}
	}
	return identityJSON{
		Address:          id.Address,
		AccountPublicKey: hex.EncodeToString(id.AccountPublic),
		X25519PublicKey:  hex.EncodeToString(id.X25519Public[:]),
	}
}

func (s *Server) statusJSON(r *http.Request) statusJSON {
	id, unlocked, reason := s.vault.State()
	st := statusJSON{
		Locked:          !unlocked,
		Address:         id.Address,
		IdleLockSeconds: int64(s.cfg.IdleLock.Seconds()),
		HasKeyFile:      s.hasKeyFile(),
		Network:         s.netView(r.Context()),
	}
	if !unlocked {
		st.LockReason = reason
	}
	if st.Network.Health == "" {
		st.Network.Health = HealthUnknown
	}
	return st
}

// decodeJSON reads a small JSON body. Requiring the JSON content type is a
// second line against forgery: a cross-site form cannot send it, and a
// cross-site fetch that does needs a CORS preflight we never approve.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "application/json" {
		writeJSON(w, http.StatusUnsupportedMediaType, apiError{Error: "send the body as Content-Type: application/json", Code: "content_type"})
		return false
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxFormBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeJSON(w, http.StatusBadRequest, apiError{Error: "the JSON body could not be read: " + err.Error(), Code: "bad_json"})
		return false
	}
	return true
}

func (s *Server) apiIdentity(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.identityJSON())
}

func (s *Server) apiStatus(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.statusJSON(r))
}

// unlockRequest unlocks with the words (mnemonic, with the optional BIP39
// passphrase) or, when mnemonic is empty, with the key file's passphrase.
type unlockRequest struct {
	Mnemonic          string `json:"mnemonic"`
	Passphrase        string `json:"passphrase"`
	KeyFilePassphrase string `json:"keyfile_passphrase,omitempty"`
}

func (s *Server) apiUnlock(w http.ResponseWriter, r *http.Request) {
	var req unlockRequest
	if !decodeJSON(w, r, &req) {
		return
	}
	if req.Mnemonic == "" && req.KeyFilePassphrase != "" {
		if _, err := s.unlockKeyFile(req.KeyFilePassphrase); err != nil {
			msg, code := keyFileErrorMessage(err)
			status := http.StatusUnprocessableEntity
			switch code {
			case "already_unlocked":
				status = http.StatusConflict
			case "no_key_file":
				status = http.StatusNotFound
			case "key_file_unreadable":
				s.log.Error("conduit: key file", "err", err)
				status = http.StatusInternalServerError
			}
			writeJSON(w, status, apiError{Error: msg, Code: code})
			return
		}
		writeJSON(w, http.StatusOK, s.identityJSON())
		return
	}
	_, err := s.unlockPhrase(req.Mnemonic, req.Passphrase)
	if err != nil {
		writeJSON(w, phraseErrorStatus(err), phraseAPIError(req.Mnemonic, err))
		return
	}
	writeJSON(w, http.StatusOK, s.identityJSON())
}

func phraseErrorStatus(err error) int {
	if errors.Is(err, ErrAlreadyUnlocked) {
		return http.StatusConflict
	}
	return http.StatusUnprocessableEntity
}

func phraseAPIError(phrase string, err error) apiError {
	var we *identity.WordError
	switch {
	case errors.As(err, &we):
		return apiError{Error: phraseErrorMessage(phrase, err), Code: "unknown_word", Position: we.Position, Suggestions: we.Suggestions}
	case errors.Is(err, identity.ErrWordCount):
		return apiError{Error: phraseErrorMessage(phrase, err), Code: "word_count"}
	case errors.Is(err, identity.ErrChecksum):
		return apiError{Error: phraseErrorMessage(phrase, err), Code: "checksum"}
	case errors.Is(err, ErrAlreadyUnlocked):
		return apiError{Error: "already unlocked: lock first", Code: "already_unlocked"}
	}
	return apiError{Error: phraseErrorMessage(phrase, err), Code: "bad_phrase"}
}

// newIdentityJSON is the answer to POST /api/identity/new.
type newIdentityJSON struct {
	Words []string `json:"words"`
	// Confirm lists the 1-based positions to send back to
	// /api/identity/confirm.
	Confirm []int `json:"confirm"`
}

func (s *Server) apiNew(w http.ResponseWriter, r *http.Request) {
	p, err := s.startCreate()
	if errors.Is(err, ErrAlreadyUnlocked) {
		writeJSON(w, http.StatusConflict, apiError{Error: "already unlocked: lock first", Code: "already_unlocked"})
		return
	}
	if err != nil {
		s.log.Error("conduit: create", "err", err)
		writeJSON(w, http.StatusInternalServerError, apiError{Error: "could not create a phrase", Code: "internal"})
		return
	}
	writeJSON(w, http.StatusOK, newIdentityJSON{Words: p.words(), Confirm: p.ask})
}

// confirmRequest maps positions ("3") to words.
type confirmRequest struct {
	Words map[string]string `json:"words"`
}

func (s *Server) apiConfirm(w http.ResponseWriter, r *http.Request) {
	var req confirmRequest
	if !decodeJSON(w, r, &req) {
		return
	}
	answers := make(map[int]string, len(req.Words))
	for k, v := range req.Words {
		n, err := strconv.Atoi(strings.TrimSpace(k))
		if err != nil {
			writeJSON(w, http.StatusBadRequest, apiError{Error: "word positions must be numbers, got " + strconv.Quote(k), Code: "bad_json"})
			return
		}
		answers[n] = v
	}
	_, err := s.finishCreate(answers)
	var me *MismatchError
	switch {
	case err == nil:
		writeJSON(w, http.StatusOK, s.identityJSON())
	case errors.As(err, &me):
		writeJSON(w, http.StatusUnprocessableEntity, apiError{Error: me.Error(), Code: "mismatch", Position: me.Position})
	case errors.Is(err, ErrNoPendingPhrase):
		writeJSON(w, http.StatusConflict, apiError{Error: "no new phrase to confirm: POST /api/identity/new first", Code: "no_pending"})
	case errors.Is(err, ErrAlreadyUnlocked):
		writeJSON(w, http.StatusConflict, apiError{Error: "already unlocked: lock first", Code: "already_unlocked"})
	default:
		s.log.Error("conduit: confirm", "err", err)
		writeJSON(w, http.StatusInternalServerError, apiError{Error: "could not finish creating the identity", Code: "internal"})
	}
}

func (s *Server) apiLock(w http.ResponseWriter, r *http.Request) {
	s.lock(LockByUser)
	writeJSON(w, http.StatusOK, s.identityJSON())
}

func (s *Server) apiUnplug(w http.ResponseWriter, r *http.Request) {
	if err := s.unplug(r.Context()); err != nil {
		writeJSON(w, http.StatusInternalServerError, apiError{Error: "keys wiped, but not ready to unplug: " + err.Error(), Code: "unplug_failed"})
		return
	}
	writeJSON(w, http.StatusOK, s.identityJSON())
}

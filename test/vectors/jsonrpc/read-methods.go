// Writes go-methods.json: the method Go's encoding/json reads from JSON-RPC request bodies, the way geth
// (rpc/json.go: readBatch, then parseMessage into jsonrpcMessage, unmarshal errors ignored) and CometBFT
// (rpc/jsonrpc/types: RPCRequest.UnmarshalJSON, unmarshal errors refuse the request) read them, the id geth
// reads from each call, and which calls it takes for notifications (no id under any spelling of the key, and a method).
// Run: go run read-methods.go > go-methods.json (Go 1.19, standard library only).
package main

import (
	"bytes"
	"encoding/json"
	"os"
)

// geth's jsonrpcMessage, the fields a request fills.
type gethMessage struct {
	Version string          `json:"jsonrpc,omitempty"`
	ID      json.RawMessage `json:"id,omitempty"`
	Method  string          `json:"method,omitempty"`
	Params  json.RawMessage `json:"params,omitempty"`
}

// CometBFT's RPCRequest as its UnmarshalJSON reads it.
type cometRequest struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      interface{}     `json:"id,omitempty"`
	Method  string          `json:"method"`
	Params  json.RawMessage `json:"params"`
}

func isBatch(raw []byte) bool {
	for _, c := range raw {
		if c == 0x20 || c == 0x09 || c == 0x0a || c == 0x0d {
			continue
		}
		return c == '['
	}
	return false
}

// As geth's jsonCodec.readBatch: the first JSON value of the body through a json.Decoder (what follows it is
// never read), then parseMessage: a lone object through json.Unmarshal, a batch element by element through a
// json.Decoder; decoding errors past the first value's syntax are ignored (the message keeps what was decoded).
func gethMessages(body []byte) []gethMessage {
	var raw json.RawMessage
	if err := json.NewDecoder(bytes.NewReader(body)).Decode(&raw); err != nil {
		return []gethMessage{{}}
	}
	if !isBatch(raw) {
		var m gethMessage
		json.Unmarshal(raw, &m)
		return []gethMessage{m}
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.Token()
	var out []gethMessage
	for dec.More() {
		var m gethMessage
		dec.Decode(&m)
		out = append(out, m)
	}
	return out
}

func gethMethods(msgs []gethMessage) []string {
	out := []string{}
	for _, m := range msgs {
		out = append(out, m.Method)
	}
	return out
}

// The id geth reads from each message, as sent ("" when it has none).
func gethIDs(msgs []gethMessage) []string {
	out := []string{}
	for _, m := range msgs {
		out = append(out, string(m.ID))
	}
	return out
}

// geth's isNotification: no id and a method. geth runs such a call and writes no answer for it.
func gethNotifications(msgs []gethMessage) []bool {
	out := []bool{}
	for _, m := range msgs {
		out = append(out, m.ID == nil && m.Method != "")
	}
	return out
}

// As CometBFT's JSON-RPC handler: one request or an array of them; a request that does not decode is refused ("").
func cometMethods(raw []byte) []string {
	if isBatch(raw) {
		var reqs []json.RawMessage
		if err := json.Unmarshal(raw, &reqs); err != nil {
			return nil
		}
		var out []string
		for _, r := range reqs {
			var c cometRequest
			if err := json.Unmarshal(r, &c); err != nil {
				out = append(out, "")
				continue
			}
			out = append(out, c.Method)
		}
		return out
	}
	var c cometRequest
	if err := json.Unmarshal(raw, &c); err != nil {
		return []string{""}
	}
	return []string{c.Method}
}

type vector struct {
	Body          string   `json:"body"`
	Geth          []string `json:"geth"`
	IDs           []string `json:"geth_ids"`
	Notifications []bool   `json:"geth_notifications"`
	Comet         []string `json:"cometbft"`
}

func main() {
	bodies := []string{
		`{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber"}`,
		`{"jsonrpc":"2.0","id":1,"Method":"admin_addPeer","params":["enode://x"]}`,
		`{"jsonrpc":"2.0","id":1,"METHOD":"admin_nodeInfo"}`,
		`{"jsonrpc":"2.0","id":1,"mEtHoD":"dial_seeds"}`,
		`{"jsonrpc":"2.0","id":1,"method":"eth_chainId","Method":"admin_addPeer"}`,
		`{"jsonrpc":"2.0","id":1,"Method":"admin_addPeer","method":"eth_chainId"}`,
		`{"jsonrpc":"2.0","id":1,"method":"eth_chainId","Method":"admin_addPeer","method":"eth_call"}`,
		`{"jsonrpc":"2.0","id":1,"METHOD":"personal_sign","method":5}`,
		`{"jsonrpc":"2.0","id":1,"METHOD":"unsafe_flush_mempool","method":null}`,
		`{"jsonrpc":"2.0","id":1,"method":"admin_peers","METHOD":7}`,
		`{"jsonrpc":"2.0","id":1,"m\u0065thod":"admin_peers"}`,
		`{"jsonrpc":"2.0","id":1,"Me\u0074hod":"miner_start"}`,
		`{"jsonrpc":"2.0","id":1,"methods":"admin_peers"}`,
		`{"jsonrpc":"2.0","id":1,"méthod":"admin_peers"}`,
		`[{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber"},{"jsonrpc":"2.0","id":2,"Method":"engine_newPayloadV3"}]`,
		`[{"jsonrpc":"2.0","id":1,"METHOD":"dial_peers"},7,{"jsonrpc":"2.0","id":3,"method":"status"}]`,
		`{"jsonrpc":"2.0","id":1,"method":"admin_nodeInfo"} trailing bytes`,
		`{"jsonrpc":"2.0","id":1,"method":"admin_nodeInfo"}{"jsonrpc":"2.0","id":2,"method":"eth_chainId"}`,
		`{"jsonrpc":"2.0","id":1,"method":"personal_sign","params":["}{\"]"]}]]]`,
		`[{"jsonrpc":"2.0","id":1,"method":"engine_forkchoiceUpdatedV3"}],`,
		` {"jsonrpc":"2.0","id":1,"method":"miner_start"}` + "\n" + `{"jsonrpc":"2.0","id":2,"method":"eth_call"}`,
		`{"jsonrpc":"2.0","id":1,"method":"admin_peers"`,
		`{"jsonrpc":"2.0","method":"debug_traceBlockByNumber","params":["latest"]}`,
		`{"jsonrpc":"2.0","ID":1,"method":"eth_chainId"}`,
		`{"jsonrpc":"2.0","Id":"a","method":"eth_chainId"}`,
		`{"jsonrpc":"2.0","id":null,"method":"eth_chainId"}`,
		`{"jsonrpc":"2.0","id":1,"iD":null,"method":"eth_chainId"}`,
		`{"jsonrpc":"2.0","method":"eth_subscription","params":{}}`,
		`{"jsonrpc":"2.0","method":""}`,
		`[{"jsonrpc":"2.0","method":"eth_getLogs","params":[{}]},{"jsonrpc":"2.0","method":"eth_call"}]`,
		`[{"jsonrpc":"2.0","method":"eth_getLogs"},{"jsonrpc":"2.0","id":2,"method":"eth_chainId"}]`,
		`[{"jsonrpc":"2.0","method":"eth_getLogs"},7]`,
		`{"jsonrpc":"2.0","ID":2,"method":"eth_call","id":1}`,
		`{"jsonrpc":"2.0","id":1,"method":"eth_call","Id":"b"}`,
	}
	var out []vector
	for _, b := range bodies {
		msgs := gethMessages([]byte(b))
		out = append(out, vector{Body: b, Geth: gethMethods(msgs), IDs: gethIDs(msgs), Notifications: gethNotifications(msgs), Comet: cometMethods([]byte(b))})
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	enc.Encode(map[string]interface{}{
		"source":  "test/vectors/jsonrpc/read-methods.go, Go 1.19 encoding/json (Debian golang-go 1.19.8)",
		"vectors": out,
	})
}

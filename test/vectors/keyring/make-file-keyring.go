// Writes a cosmos-sdk "file" keyring record the way 99designs/keyring's file backend does
// (JSON of the Item, then jose2go PBES2-HS256+A128KW / A256GCM with the passphrase), holding a
// cosmos.crypto.keyring.v1.Record with a local secp256k1 key, or an offline one (PRIV_HEX "offline").
//
//	apt-get install golang-go golang-github-dvsekhvalnov-jose2go-dev
//	GO111MODULE=off GOPATH=/usr/share/gocode go build -o make-file-keyring make-file-keyring.go
//	./make-file-keyring DIR NAME PUB_HEX PRIV_HEX PASSPHRASE
package main

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	jose "github.com/dvsekhvalnov/jose2go"
)

type Item struct {
	Key                         string
	Data                        []byte
	Label                       string
	Description                 string
	KeychainNotTrustApplication bool
	KeychainNotSynchronizable   bool
}

func field(n int, b []byte) []byte {
	out := []byte{byte(n<<3 | 2)}
	l := len(b)
	for l >= 0x80 {
		out = append(out, byte(l)|0x80)
		l >>= 7
	}
	out = append(out, byte(l))
	return append(out, b...)
}

func any(typeURL string, value []byte) []byte {
	return append(field(1, []byte(typeURL)), field(2, value)...)
}

func main() {
	dir, name, pubHex, privHex, pass := os.Args[1], os.Args[2], os.Args[3], os.Args[4], os.Args[5]
	pub, _ := hex.DecodeString(pubHex)
	priv, _ := hex.DecodeString(privHex)
	rec := field(1, []byte(name))
	rec = append(rec, field(2, any("/cosmos.crypto.secp256k1.PubKey", field(1, pub)))...)
	if privHex == "offline" {
		rec = append(rec, field(6, nil)...)
	} else {
		rec = append(rec, field(3, field(1, any("/cosmos.crypto.secp256k1.PrivKey", field(1, priv))))...)
	}
	item := Item{Key: name + ".info", Data: rec}
	b, err := json.Marshal(item)
	if err != nil {
		panic(err)
	}
	token, err := jose.Encrypt(string(b), jose.PBES2_HS256_A128KW, jose.A256GCM, pass, jose.Headers(map[string]interface{}{"created": time.Now().String()}))
	if err != nil {
		panic(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".info"), []byte(token), 0600); err != nil {
		panic(err)
	}
	fmt.Println("wrote", name)
}

package pickle

import "bytes"

// SniffSize is how many leading bytes Sniff wants to see.
const SniffSize = 4096

// Sniff reports whether head (the first bytes of some data) is the start of
// a pickle. Protocol 2+ pickles start with PROTO; protocol 0 and 1 pickles
// have no magic, so the bytes are decoded: they are a pickle if the decoding
// reaches STOP, or imports a global before anything odd happens, or runs
// eight clean opcodes up to the end of the window.
func Sniff(head []byte) bool {
	if len(head) >= 2 && head[0] == opProto && head[1] <= HighestProtocol {
		return true
	}
	return SniffStrict(head)
}

// SniffStrict is Sniff without the PROTO shortcut: the bytes must decode.
// It is for data that is usually something else (tensor storages), where
// two bytes such as 0x80 0x02 occur by chance.
func SniffStrict(head []byte) bool {
	if len(head) == 0 || !IsOpcode(head[0]) {
		return false
	}
	cleanImport := false
	res := Run(bytes.NewReader(head), 0, int64(len(head)), Options{
		OnEvent: func(e *Event) {
			if e.Kind == EventImport && !e.AfterError {
				cleanImport = true
			}
		},
		MaxPickles: 1,
	})
	if len(res.Pickles) > 0 && res.Pickles[0].Complete && len(res.Anomalies) == 0 {
		return true
	}
	if cleanImport {
		return true
	}
	truncatedAtWindow := res.Err != nil && res.End >= int64(len(head))-16 && len(head) >= SniffSize/2
	clean := true
	for _, a := range res.Anomalies {
		if a.Kind != AnomalyMalformed {
			clean = false
		}
	}
	return clean && res.Opcodes >= 8 && (truncatedAtWindow || (len(res.Pickles) > 0 && res.Pickles[0].Complete))
}

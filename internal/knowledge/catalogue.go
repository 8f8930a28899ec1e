package knowledge

import "fmt"

// The tables below are built once from the DangerousGlobals and SafeGlobals lists;
// a duplicate entry is a programming error and panics at start-up (tests run
// it), so the lists stay explicit and reviewable.
var (
	dangerModules = map[string]*Danger{}
	dangerNames   = map[string]*Danger{}
	safeNames     = map[string]*SafeGlobal{}
	safeModules   = map[string]*SafeGlobal{}
)

func init() {
	for i := range DangerousGlobals {
		d := &DangerousGlobals[i]
		if d.Name == "" {
			if _, dup := dangerModules[d.Module]; dup {
				panic(fmt.Sprintf("knowledge: duplicate dangerous module %q", d.Module))
			}
			dangerModules[d.Module] = d
			continue
		}
		k := d.Module + "\x00" + d.Name
		if _, dup := dangerNames[k]; dup {
			panic(fmt.Sprintf("knowledge: duplicate dangerous global %s", d.Path()))
		}
		dangerNames[k] = d
	}
	for i := range SafeGlobals {
		s := &SafeGlobals[i]
		if s.Name == "" {
			if s.Calls {
				panic(fmt.Sprintf("knowledge: whole-module safe entry %q must not allow calls", s.Module))
			}
			if _, dup := safeModules[s.Module]; dup {
				panic(fmt.Sprintf("knowledge: duplicate safe module %q", s.Module))
			}
			safeModules[s.Module] = s
			continue
		}
		k := s.Module + "\x00" + s.Name
		if _, dup := safeNames[k]; dup {
			panic(fmt.Sprintf("knowledge: duplicate safe global %s.%s", s.Module, s.Name))
		}
		safeNames[k] = s
	}
}

package audit

import "syscall"

const sysFstatat = syscall.SYS_FSTATAT

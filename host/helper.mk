# The build of one host helper, a single C file: each helper's Makefile sets NAME (its
# directory's NAME.c becomes $(OUT)/podvisor-NAME) and includes this file.
#   make -C host/<helper> OUT=<dir>     (scripts/bootstrap.sh: OUT=host/out)
OUT ?= ../out
ifeq ($(origin CC),default)
CC := gcc
endif
CFLAGS ?= -O2
CFLAGS += -std=gnu11 -Wall -Wextra -Werror
BIN := $(OUT)/podvisor-$(NAME)

all: $(BIN)

$(BIN): $(NAME).c Makefile ../helper.mk
	@mkdir -p $(OUT)
	$(CC) $(CFLAGS) -o $@.tmp $(NAME).c
	mv $@.tmp $@

clean:
	rm -f $(BIN)

.PHONY: all clean

# cmake -DIN=... -DOUT=... -DVERSION=... -P ConfigureFile.cmake: configure_file at build time, so
# a hand-written page template is re-rendered when it changes without a re-configure.
configure_file(${IN} ${OUT} @ONLY)

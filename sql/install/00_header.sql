-- cqrs_conf install script, assembled from sql/install/*.sql by the Makefile.
\echo Use "CREATE EXTENSION cqrs_conf" to load this file. \quit
